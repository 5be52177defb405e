"""The participants of the demo space. Credit codes are made up but valid (check character per GB 32100)."""

from __future__ import annotations

from dataclasses import dataclass

from trustspace.core.ids import credit_code_check_char


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class Role:
    key: str
    display_name: str
    english: str
    credit_code: str
    roles: tuple[str, ...]


CAST = (
    Role("tax", "市税务局", "municipal tax bureau", _code("11330100MB0123456"), ("provider",)),
    Role("bank", "城商银行", "city commercial bank", _code("91330100MA2B3C4D5"), ("consumer",)),
    Role("grid", "电网公司", "power grid company", _code("91330000MA7E8F9G0"), ("provider", "consumer")),
)
# Joins and is then expelled, to show that a revoked credential opens no door.
EX_MEMBER = Role("broker", "某数据经纪公司", "a data broker", _code("91330106MA0H1J2K3"), ("consumer",))

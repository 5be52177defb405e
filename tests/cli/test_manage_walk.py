"""The newcomer's first transfer, by hand, as docs/getting-started.md walks it: only ``trustspace`` commands,
from two connectors that are not members yet to the data in a file on the consumer's side."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from manage_space import Space, credit_code, live_space, wide_console


@pytest.fixture(autouse=True)
def _wide() -> Iterator[None]:
    with wide_console():
        yield


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    """A provider and a consumer connector, neither a member yet."""
    with live_space(tmp_path_factory.mktemp("walk"), ("provider", "consumer")) as started:
        yield started



def suggested(output: str, command: str) -> str:
    """The id in the ``next:`` line that suggests ``command`` (a person copies it from there)."""
    found = re.search(rf"next: .*?{re.escape(command)} (\S+)", output)
    assert found, output
    return found.group(1).rstrip(";")


def test_apply_approve_publish_negotiate_transfer_and_pull(space: Space, tmp_path: Path) -> None:
    # Each participant applies through its connector; the administrator approves; each collects its credential.
    for seed, (name, roles) in enumerate((("provider", ["provider"]), ("consumer", ["consumer"])), start=1):
        applied = space.cli("member", "apply", "--name", f"{name} Co", "--credit-code", credit_code(100 + seed),
                            *(a for role in roles for a in ("--role", role)), on=name)
        assert applied.exit_code == 0, applied.output
        approved = space.cli("member", "approve", suggested(applied.output, "trustspace member approve"))
        assert approved.exit_code == 0 and "approved" in approved.output, approved.output
        refreshed = space.cli("member", "refresh", on=name)
        assert refreshed.exit_code == 0 and "True" in refreshed.output, refreshed.output

    # The provider publishes a file under an offer for consumers.
    source = tmp_path / "usage.csv"
    source.write_text("".join(f"{i},{i * i}\n" for i in range(5000)))
    asset = space.cli("asset", "add", "--id", "usage", "--title", "Usage", "--file", str(source), on="provider")
    assert asset.exit_code == 0, asset.output
    offer = space.cli("offer", "add", "--asset", "usage", "--id", "usage-offer", "--role", "consumer",
                      on="provider")
    assert offer.exit_code == 0, offer.output

    # The consumer finds it, agrees a contract, has the data moved and writes it to a file.
    provider_url = space.connectors["provider"].url
    catalog = space.cli("catalog", provider_url, on="consumer")
    assert catalog.exit_code == 0 and "usage-offer" in catalog.output, catalog.output
    offer_id = suggested(catalog.output, f"trustspace negotiate --provider {provider_url} --offer")
    negotiation = space.cli("negotiate", "--provider", provider_url, "--offer", offer_id, "--wait", on="consumer")
    assert negotiation.exit_code == 0 and "FINALIZED" in negotiation.output, negotiation.output
    agreement = suggested(negotiation.output, "trustspace transfer start --agreement")
    transfer = space.cli("transfer", "start", "--agreement", agreement, "--wait", on="consumer")
    assert transfer.exit_code == 0 and "COMPLETED" in transfer.output, transfer.output
    transfer_id = suggested(transfer.output, "trustspace transfer pull")
    output = tmp_path / "received.csv"
    pulled = space.cli("transfer", "pull", transfer_id, "--output", str(output), on="consumer")
    assert pulled.exit_code == 0, pulled.output
    assert output.read_bytes() == source.read_bytes()

"""Generated but realistic demo data: enterprise tax records (a SQLite table) and grid electricity usage."""

from __future__ import annotations

import csv
import random
import sqlite3
from pathlib import Path

from trustspace.core.ids import CREDIT_CODE_ALPHABET, credit_code_check_char

CITIES = ["杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "台州"]
WORDS = ["华", "兴", "达", "信", "恒", "联", "创", "新", "源", "泰", "盛", "通", "德", "瑞", "宏", "海"]
KINDS = ["科技", "制造", "贸易", "物流", "食品", "建材", "纺织", "电子"]
GRADES = ["A", "A", "A", "B", "B", "B", "B", "C", "M", "D"]


def credit_code(rng: random.Random) -> str:
    first = "91" + "330" + rng.choice("012345678") + "0" + rng.choice("0123456")
    first += "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(9))
    return first + credit_code_check_char(first)


def write_tax_records(path: Path, rows: int = 3000, seed: int = 7) -> int:
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE IF EXISTS tax_records")
        db.execute("CREATE TABLE tax_records (credit_code TEXT, enterprise TEXT, city TEXT, industry TEXT, "
                   "tax_year INTEGER, revenue_wan REAL, tax_paid_wan REAL, credit_grade TEXT)")
        for _ in range(rows):
            city, kind = rng.choice(CITIES), rng.choice(KINDS)
            name = f"{city}{rng.choice(WORDS)}{rng.choice(WORDS)}{kind}有限公司"
            revenue = round(rng.lognormvariate(7, 1.2), 2)
            db.execute("INSERT INTO tax_records VALUES (?,?,?,?,?,?,?,?)",
                       (credit_code(rng), name, city, kind, rng.choice([2023, 2024, 2025]), revenue,
                        round(revenue * rng.uniform(0.02, 0.09), 2), rng.choice(GRADES)))
    return rows


def write_grid_usage(path: Path, rows: int = 2000, seed: int = 11) -> int:
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["credit_code", "month", "kwh", "peak_kw", "arrears"])
        for _ in range(rows // 12):
            code = credit_code(rng)
            base = rng.lognormvariate(9, 1)
            for month in range(1, 13):
                writer.writerow([code, f"2025-{month:02d}", round(base * rng.uniform(0.8, 1.2)),
                                 round(base / 300 * rng.uniform(0.9, 1.4), 1), int(rng.random() < 0.03)])
    return rows // 12 * 12

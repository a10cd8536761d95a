"""Regenerate export.csv: a deterministic, realistic HRIS export (Workday/BambooHR style).

It is written the way those tools export: UTF-8 with a byte-order mark, Windows line
endings, headers with spaces, US dates, national phone numbers with extensions,
terminated and on-leave people, a rehire, non-ASCII names, a manager chain and
routing skills. Run: python examples/hris/generate.py
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

HEADER = [
    "Employee ID", "First Name", "Last Name", "Work Email", "Job Title", "Department",
    "Team", "Manager ID", "Status", "Hire Date", "Country", "Work Phone", "Mobile Phone",
    "Skills", "Languages", "Previous Employee ID",
]  # fmt: skip
FIRST = [
    "Ana", "Björn", "Chloé", "Dmitri", "Elif", "François", "Grace", "Hiroshi", "Inés",
    "Jürgen", "Kofi", "Łucja", "Mateo", "Nnamdi", "Oskar", "Priya", "Quentin", "Renée",
    "Søren", "Tomás", "Ümit", "Valentina", "Wojciech", "Xiu", "Yusuf", "Zoë",
]  # fmt: skip
LAST = [
    "Álvarez", "Brontë", "Castañeda", "Dvořák", "Eriksen", "Fernández", "Gómez", "Hoffmann",
    "Ibáñez", "Jørgensen", "Kowalski", "Lefèvre", "Müller", "Nakamura", "O'Brien", "Peña",
    "Quiñones", "Rossi", "Schröder", "Tanaka", "Urbański", "Vásquez", "Weiß", "Yılmaz",
]  # fmt: skip
TEAMS = {
    "Support Tier1": ("Customer Support", "Billing:4;Escalations:1", "English:5;Spanish:3"),
    "Support Tier2": ("Customer Support", "Billing:5;Escalations:4", "English:5"),
    "Sales Inbound": ("Sales", "Sales:4", "English:5;French:2"),
    "Sales EMEA": ("Sales", "Sales:5", "English:4;German:5"),
}
ASCII = str.maketrans(
    "áàâäãåçéèêëíìîïñóòôöõøúùûüýÿšžčřęłńśźżğışæœßÁÉÍÓÚÖÜØÅÆŁŞ",
    "aaaaaaceeeeiiiinoooooouuuuyyszcrelnszzgisaosAEIOUOUOAALS",
)  # noqa: E501


def phone(rng: random.Random, country: str, ext: bool) -> str:
    if country == "GB":
        return f"020 7946 0{rng.randrange(100, 999)}"
    area = rng.choice(["212", "646", "917", "312", "415"])
    style = rng.randrange(3)
    n = f"555-01{rng.randrange(10, 99)}"
    text = [f"({area}) {n}", f"{area}-{n}", f"{area}.{n.replace('-', '.')}"][style]
    if ext:
        text += rng.choice([" x", " ext. ", " #"]) + str(rng.randrange(100, 999))
    return text


def rows(count: int = 240) -> list[list[str]]:
    rng = random.Random(20261127)
    out: list[list[str]] = []
    used: set[str] = set()
    director = ["W1000", "Grace", "Hoffmann", "grace.hoffmann@example.com",
                "Director of Contact Centre", "Customer Support", "", "", "Active", "03/02/2015",
                "US", "(212) 555-0100 x100", "", "", "English:5", ""]  # fmt: skip
    out.append(director)
    leads: dict[str, str] = {}
    for i, team in enumerate(TEAMS):
        emp = f"W{1001 + i}"
        leads[team] = emp
        first, last = FIRST[i * 3], LAST[i * 5]
        email = f"{first}.{last}".lower().translate(ASCII).replace("'", "") + "@example.com"
        used.add(email)
        dept, skills, langs = TEAMS[team]
        country = "GB" if team == "Sales EMEA" else "US"
        work = phone(rng, country, True)
        out.append([emp, first, last, email, f"{team} Lead", dept, team, "W1000", "Active",
                    "06/15/2018", country, work, "", skills, langs, ""])  # fmt: skip
    n = 1100
    while len(out) < count:
        n += 1
        team = rng.choice(list(TEAMS))
        dept, skills, langs = TEAMS[team]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        base = f"{first}.{last}".lower().translate(ASCII).replace("'", "")
        email, k = f"{base}@example.com", 2
        while email in used:
            email, k = f"{base}{k}@example.com", k + 1
        used.add(email)
        status = rng.choices(["Active", "Terminated", "On Leave"], [85, 10, 5])[0]
        country = "GB" if team == "Sales EMEA" else "US"
        hired = f"{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}/{rng.randrange(2016, 2026)}"
        mobile = phone(rng, country, False) if country == "US" and rng.random() < 0.3 else ""
        work = phone(rng, country, rng.random() < 0.4)
        out.append([f"W{n}", first, last, email, "Agent", dept, team, leads[team], status, hired,
                    country, work, mobile, skills, langs, ""])  # fmt: skip
    # A rehire: terminated under W1099, back under a new id with the same email.
    out.append(["W1099", "Renée", "Lefèvre", "renee.lefevre@example.com", "Agent",
                "Customer Support", "Support Tier1", leads["Support Tier1"], "Terminated",
                "01/10/2019", "US", "(212) 555-0177", "", "", "", ""])  # fmt: skip
    out.append(["W2001", "Renée", "Lefèvre", "renee.lefevre@example.com", "Senior Agent",
                "Customer Support", "Support Tier2", leads["Support Tier2"], "Active",
                "09/01/2026", "US", "(212) 555-0178 x278", "", "Billing:5;Escalations:3",
                "English:5;French:4", "W1099"])  # fmt: skip
    return out


def main() -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows())
    path = Path(__file__).with_name("export.csv")
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))


if __name__ == "__main__":
    main()

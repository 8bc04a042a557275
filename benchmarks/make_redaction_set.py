"""Build the labelled redaction test set: personal data planted in real NHS comments.

Run it with ``.venv/bin/python benchmarks/make_redaction_set.py [--n 600] [--seed 20261124]``.
It reads the real Friends and Family Test comments in
``../shared/data/pxtextmining/phase1_text_data.csv`` (column ``feedback``; pxtextmining, NHS
England, MIT licence), samples ``--n`` of them (seeded), plants items of personal data into most
of them and hard negatives (text that looks like personal data but is not) into many, and writes
``tests/fixtures/redaction/planted.jsonl``, one comment per line::

    {"id": 0, "source_row": 1234, "text": "...",
     "items": [{"kind": "PHONE", "start": 10, "end": 22, "text": "07700 900123"}],
     "negatives": [{"kind": "SERVICE_PHONE", "start": 40, "end": 60, "text": "..."}],
     "original": [[0, 87]]}

``items`` are the planted personal data (the span is the item alone: for a name after a title,
the name without the title; for a date of birth, the date without "born"). ``negatives`` are the
sentences planted as hard negatives. ``original`` are the spans of the real comment's own text,
which may hold personal data nobody planted (staff first names, above all): a benchmark lists
findings there for review rather than simply counting them wrong.

Planted values are made up: NHS numbers are random with a valid check digit, phone numbers mostly
in Ofcom's drama ranges, names from a list written here (not all of them in the redactor's
bundled first names, so that recall is not circular).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import string
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "pxtextmining" / "phase1_text_data.csv"
OUT = ROOT / "tests" / "fixtures" / "redaction" / "planted.jsonl"

KINDS = (
    "NHS_NUMBER",
    "POSTCODE",
    "PHONE",
    "EMAIL",
    "URL",
    "NI_NUMBER",
    "DATE_OF_BIRTH",
    "NAME",
)

FIRST = [
    # common, mostly in the bundled list
    "Jenny", "Sarah", "Richard", "Claire", "David", "Karen", "Michael", "Louise", "Paul",
    "Emma", "Gareth", "Helen", "Andrew", "Lisa", "Stephen", "Rachel", "Ian", "Julie", "Sam",
    "Mohammed", "Priya", "Siobhan", "Callum", "Zainab", "Rhys", "Fatima", "Declan",
    # ordinary words as well as names
    "Mark", "Grace", "Will", "Hope", "May", "Dawn", "Holly",
    # less common here, not in the bundled list
    "Oluwaseun", "Agnieszka", "Kwame", "Tomasz", "Mei", "Bernadette", "Anjali", "Ifeoma",
    "Dariusz", "Saoirse", "Thandiwe", "Gurpreet", "Bronwen", "Lachlan", "Yusuf", "Ngozi",
]  # fmt: skip
SURNAMES = [
    "Smith", "Jones", "Patel", "Khan", "Williams", "Taylor", "Brown", "Wilson", "O'Brien",
    "McDonald", "Nowak", "Okafor", "Singh", "Evans", "Hughes", "Begum", "Walker", "Murphy",
    "Ahmed", "Kowalski", "Thompson", "Clarke", "Gabbitas", "Sriddran", "Adeyemi", "Fletcher",
]  # fmt: skip
TITLES = ["Dr", "Dr.", "Nurse", "Sister", "Mrs", "Mr", "Ms", "Miss", "Matron", "Prof"]
OUTWARD = [
    "NG7", "NG5", "NG18", "S10", "DE22", "LE1", "SW1A", "EC1A", "W1A", "M1", "B15", "LS1",
    "CR0", "BN1", "NE1", "L3", "CF10", "EH1", "G12", "BS8", "OX3", "CB2", "PE1", "DN1",
]  # fmt: skip
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
DOMAINS = ["nhs.net", "gmail.com", "hotmail.co.uk", "yahoo.com", "btinternet.com", "outlook.com"]


def nhs_check(nine: str) -> int | None:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return 0 if check == 11 else None if check == 10 else check


def nhs_digits(rng: random.Random, valid: bool = True) -> str:
    while True:
        nine = str(rng.randint(4, 7)) + "".join(rng.choice(string.digits) for _ in range(8))
        check = nhs_check(nine)
        if valid and check is not None:
            return nine + str(check)
        if not valid:
            wrong = [d for d in range(10) if d != check]
            return nine + str(rng.choice(wrong))


def fmt_nhs(d: str, style: str) -> str:
    sep = {"space": " ", "dash": "-", "plain": ""}[style]
    return f"{d[:3]}{sep}{d[3:6]}{sep}{d[6:]}"


def make_nhs(rng):
    d = nhs_digits(rng)
    x = fmt_nhs(d, rng.choice(["space", "space", "dash", "plain"]))
    t = rng.choice(
        [
            "My NHS number is {x}.",
            "NHS no: {x}",
            "(NHS number {x})",
            "Please look me up, {x}.",
            "Ref {x} - nobody called back.",
            "My husband's number is {x} if you need it.",
            "{x}",
            "Patient {x}.",
        ]
    )
    return t, x


def make_postcode(rng):
    outward = rng.choice(OUTWARD)
    inward = str(rng.randint(0, 9)) + "".join(rng.choice(INWARD_LETTERS) for _ in range(2))
    style = rng.choice(["upper", "upper", "lower", "nospace"])
    x = {
        "upper": f"{outward} {inward}",
        "lower": f"{outward} {inward}".lower(),
        "nospace": f"{outward}{inward}",
    }[style]
    if rng.random() < 0.03:
        x = "GIR 0AA"
    t = rng.choice(
        [
            "I live at {x}.",
            "Postcode {x}",
            "We are at 14 Acacia Avenue, Nottingham {x}.",
            "(I'm in {x})",
            "Home address postcode: {x}, please write.",
            "The carer couldn't find {x} on the sat nav.",
            "{x}",
        ]
    )
    return t, x


def make_phone(rng):
    n = rng.randint(0, 999)
    style = rng.choice(
        ["mobile", "mobile_plain", "mobile_intl", "mobile_intl0", "landline", "london", "brackets"]
        + ["dash", "freephone", "small_area", "intl_plain", "mobile_333", "mobile_dash", "intl00"]
        + ["intl_landline"]
    )
    x = {
        "mobile": f"07700 900{n:03d}",
        "mobile_plain": f"07700900{n:03d}",
        "mobile_intl": f"+44 7700 900{n:03d}",
        "mobile_intl0": f"+44 (0)7700 900{n:03d}",
        "landline": f"0115 496 0{n:03d}",
        "london": f"020 7946 0{n:03d}",
        "brackets": f"(0115) 496 0{n:03d}",
        "dash": f"0115-496-0{n:03d}",
        "freephone": f"0800 123 4{n:03d}",
        "small_area": f"01632 960{n:03d}",
        "intl_plain": f"+44115496{n:04d}",
        "mobile_333": f"07700 900 {n:03d}",
        "mobile_dash": f"07700-900-{n:03d}",
        "intl00": f"0044 7700 900{n:03d}",
        "intl_landline": f"+44 115 496 0{n:03d}",
    }[style]
    t = rng.choice(
        [
            "Please call me on {x}.",
            "My mobile is {x}",
            "Ring me {x} any time.",
            "Tel: {x}",
            "(call {x} after 5pm)",
            "You can reach my daughter on {x}, she will explain.",
            "{x}",
        ]
    )
    return t, x


def make_email(rng):
    first, sur = rng.choice(FIRST).lower(), rng.choice(SURNAMES).lower().replace("'", "")
    domain = rng.choice(DOMAINS + ["nottshc.nhs.uk", "student.ntu.ac.uk"])
    local = rng.choice(
        [f"{first}.{sur}", f"{first}{rng.randint(1, 99)}", f"{first[0]}_{sur}", f"{first}+nhs"]
    )
    x = f"{local}@{domain}"
    if rng.random() < 0.2:
        x = x.upper() if rng.random() < 0.3 else x.capitalize()
    t = rng.choice(
        [
            "Email me at {x}.",
            "My email is {x}",
            "Contact {x} for a reply.",
            "<{x}>",
            "({x})",
            "Reply to {x}, thanks",
        ]
    )
    return t, x


def make_url(rng):
    x = rng.choice(
        [
            "https://www.nhs.uk/conditions/depression/",
            "http://bit.ly/3xYzAb",
            "www.facebook.com/jenny.smith.5",
            "https://twitter.com/someone_123",
            "www.nottinghamshirehealthcare.nhs.uk",
            "https://www.gofundme.com/f/help-for-mum?utm=share",
            "facebook.com/groups/carers-support",
            "nhs.uk/mental-health",
            "http://example.org/my-story.html",
            "WWW.MYBLOG.CO.UK/posts/42",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "instagram.com/recovery_journey",
            "https://nhs.uk",
            "http://www.patientopinion.org.uk/opinions/123456",
            "www.justgiving.com/fundraising/walk-for-mind",
        ]
    )
    t = rng.choice(
        [
            "I wrote about it at {x}.",
            "See {x}",
            "(my page: {x})",
            "More at {x}, please read.",
            "{x}",
            "Link: {x} - have a look.",
        ]
    )
    return t, x


NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def make_ni(rng):
    while True:
        prefix = rng.choice(NI_FIRST) + rng.choice(NI_SECOND)
        if prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    style = rng.choice(["spaced", "plain", "plain", "lower", "partspaced"])
    x = {
        "spaced": f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}",
        "plain": f"{prefix}{digits}{suffix}",
        "lower": f"{prefix}{digits}{suffix}".lower(),
        "partspaced": f"{prefix} {digits} {suffix}",
    }[style]
    t = rng.choice(
        [
            "My NI number is {x}.",
            "National Insurance: {x}",
            "They asked for my national insurance number ({x}) three times!",
            "NI {x}",
            "{x}",
            "PIP assessment ref {x}, still waiting.",
        ]
    )
    return t, x


def make_dob(rng):
    y, m, d = rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28)
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(d, "th")
    x = rng.choice(
        [
            f"{d:02d}/{m:02d}/{y}",
            f"{d}/{m}/{y}",
            f"{d:02d}-{m:02d}-{y % 100:02d}",
            f"{d:02d}.{m:02d}.{y}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{d}{suffix} {MONTHS[m - 1]} {y}",
            f"{MONTHS[m - 1]} {d}, {y}",
            f"{d} {MONTHS[m - 1][:3]} {y}",
            f"{y}-{m:02d}-{d:02d}",
            f"{d}/{m}/{y % 100:02d}",
            f"the {d}{suffix} of {MONTHS[m - 1]} {y}",
        ]
    )
    t = rng.choice(
        [
            "I was born on {x}.",
            "DOB {x}",
            "D.O.B: {x}",
            "Date of birth {x}.",
            "My son (born {x}) has autism.",
            "Mum's date of birth is {x}, please update her records.",
            "{x} (DOB)",
            "dob - {x}",
            "He was born {x} and has had three strokes.",
            "Birthday: {x}",
        ]
    )
    return t, x


def make_name(rng):
    first, sur = rng.choice(FIRST), rng.choice(SURNAMES)
    t, x = rng.choice(
        [
            ("{title} {x} was lovely.", first),
            ("{title} {x} explained everything.", sur),
            ("{title} {x} was very kind.", f"{first} {sur}"),
            ("Thanks to {x} on reception.", first),
            ("{x} was brilliant with my mum.", first),
            ("My name is {x}.", first),
            ("I'm {x} and I care for my husband.", first),
            ("A nurse called {x} sorted it out.", first),
            ("Please pass my thanks to {x}.", f"{first} {sur}"),
            ("{x} and the team were amazing.", f"{first} {sur}"),
            ("Special thanks to {x}!", first),
            ("I saw {title} {x} twice.", sur),
            ("Nurse, {x}, was so patient.", first),
            ("{title} {x}'s advice helped.", sur),
            ("The physio ({x}) was great.", first),
            ("{x} from the crisis team rang back.", first),
            ("thanks to {x} in pharmacy", first.lower()),
        ]
    )
    title = rng.choice(TITLES)
    return t.replace("{title}", title), x


MAKERS = {
    "NHS_NUMBER": make_nhs,
    "POSTCODE": make_postcode,
    "PHONE": make_phone,
    "EMAIL": make_email,
    "URL": make_url,
    "NI_NUMBER": make_ni,
    "DATE_OF_BIRTH": make_dob,
    "NAME": make_name,
}


def make_negative(rng) -> tuple[str, str]:
    """A sentence that looks like personal data but is not: (kind of trap, sentence)."""
    bad = nhs_digits(rng, valid=False)
    d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2019, 2024)
    return rng.choice(
        [
            ("INVALID_NHS", f"Reference {fmt_nhs(bad, rng.choice(['space', 'plain', 'dash']))}."),
            ("INVALID_NHS", f"Order number {bad} still not delivered."),
            ("SERVICE_PHONE", "I rang 111 and they were great."),
            ("SERVICE_PHONE", "We had to call 999 twice."),
            ("SERVICE_PHONE", "NHS 111 told me to come in."),
            ("SERVICE_PHONE", "Police on 101 were called."),
            ("APPOINTMENT_DATE", f"My appointment on {d:02d}/{m:02d}/{y} was cancelled."),
            ("APPOINTMENT_DATE", f"Seen on {d} {MONTHS[m - 1]} {y}, waited 3 hours."),
            ("APPOINTMENT_DATE", f"Referred {d}.{m}.{y % 100:02d} and still waiting."),
            ("APPOINTMENT_DATE", f"My baby was born in hospital and we went home on {d}/{m}/{y}."),
            ("WORD_NAME", "Will the parking ever be fixed?"),
            ("WORD_NAME", "I will come back in May."),
            ("WORD_NAME", "May I say thank you."),
            ("WORD_NAME", "Hope to see things improve."),
            ("WORD_NAME", "By the Grace of God I recovered."),
            ("WORD_NAME", "Mark my words, it will get worse."),
            ("WORD_NAME", "We were on Rose Ward for a week."),
            ("WORD_NAME", "Frank discussion with the team."),
            ("NUMBERS", f"I am {rng.randint(20, 90)} years old and waited {d} weeks."),
            ("NUMBERS", f"Ward {rng.randint(1, 40)}, bed {rng.randint(1, 12)}, at 2pm."),
            ("NUMBERS", f"Parking cost £{rng.randint(2, 15)}.50 for {rng.randint(2, 6)} hours."),
            ("NUMBERS", "Room b12 3rd floor, lift out of order."),
            ("NUMBERS", f"From 10.30 to 12.{rng.randint(10, 59)} in the waiting room."),
            ("NUMBERS", f"Took {rng.randint(100, 999)} mg of paracetamol at 3am."),
            ("NUMBERS", "COVID-19 rules in 2021 were confusing."),
            ("ABBREVIATION", "Staff were great.Me and my wife were happy."),
            ("ABBREVIATION", "Saw the GP, i.e. the doctor, e.g. for my BP."),
        ]
    )


def sentences(text: str) -> list[int]:
    """Offsets just after sentence ends inside ``text`` (places to plant a sentence)."""
    return [m.end() for m in re.finditer(r"[.!?](?=\s+[A-Z])", text)]


def build(comment: str, rng: random.Random, kinds: list[str], negatives: int) -> dict:
    pieces: list[tuple[str, str, list]] = []  # (role, text, items)
    for kind in kinds:
        template, value = MAKERS[kind](rng)
        before, after = template.split("{x}")
        pieces.append(("item", before, [(kind, value, after)]))
    for _ in range(negatives):
        trap, sentence = make_negative(rng)
        pieces.append(("negative", sentence, [trap]))
    rng.shuffle(pieces)
    # cut the comment at a sentence end (or not at all) and interleave
    cuts = sentences(comment)
    cut = rng.choice(cuts) if cuts and rng.random() < 0.5 else None
    parts = [comment] if cut is None else [comment[:cut], comment[cut:].lstrip()]
    order: list = []
    before_count = rng.randint(0, len(pieces)) if rng.random() < 0.4 else 0
    order.extend(pieces[:before_count])
    order.append(("original", parts[0], []))
    rest = pieces[before_count:]
    if len(parts) == 2:
        mid = rng.randint(0, len(rest))
        order.extend(rest[:mid])
        order.append(("original", parts[1], []))
        order.extend(rest[mid:])
    else:
        order.extend(rest)
    text = ""
    items, negs, original = [], [], []
    for role, chunk, extra in order:
        if text and not text.endswith((" ", "\n")):
            text += rng.choice([" ", " ", " ", "\n", "  "])
        if role == "original":
            chunk = chunk.strip()
            original.append([len(text), len(text) + len(chunk)])
            text += chunk
        elif role == "negative":
            negs.append({"kind": extra[0], "start": len(text), "end": len(text) + len(chunk)})
            negs[-1]["text"] = chunk
            text += chunk
        else:
            kind, value, after = extra[0]
            text += chunk
            items.append(
                {"kind": kind, "start": len(text), "end": len(text) + len(value), "text": value}
            )
            text += value + after
    for it in items:
        assert text[it["start"] : it["end"]] == it["text"]
    return {"text": text, "items": items, "negatives": negs, "original": original}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with SOURCE.open(newline="", encoding="utf-8") as fh:
        rows = [
            (int(r["row_index"]), " ".join(r["feedback"].split()))
            for r in csv.DictReader(fh)
            if r["feedback"] and 20 <= len(r["feedback"]) <= 600
        ]
    chosen = rng.sample(rows, args.n)
    records = []
    for i, (row, comment) in enumerate(chosen):
        roll = rng.random()
        if roll < 0.12:  # no planted data, negatives only
            kinds, negatives = [], rng.randint(1, 2)
        else:
            kinds = rng.sample(KINDS, 1 if roll < 0.7 else 2)
            negatives = rng.choice([0, 0, 1])
        record = build(comment, rng, kinds, negatives)
        records.append({"id": i, "source_row": row, **record})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for rec in records:
        for it in rec["items"]:
            counts[it["kind"]] = counts.get(it["kind"], 0) + 1
    negs = sum(len(r["negatives"]) for r in records)
    print(f"wrote {len(records)} comments to {args.out.relative_to(ROOT)}")
    print("planted:", dict(sorted(counts.items())), "hard negatives:", negs)


if __name__ == "__main__":
    main()

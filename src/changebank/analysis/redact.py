"""Personal data in free text: find it and replace it with bracketed placeholders.

Everything changebank shows the public (catalogue quotes, reports, open data, the API) goes
through :func:`redact`::

    >>> redact("Nurse Jenny rang me on 07700 900123 about NHS number 943 476 5919.")
    'Nurse [NAME] rang me on [PHONE] about NHS number [NHS_NUMBER].'

Recognisers, each a compiled regular expression with a check where one exists:

``NHS_NUMBER``
    ten digits as ``943 476 5919``, ``943-476-5919`` or ``9434765919`` with a valid modulus-11
    check digit; after "NHS number" / "NHS no" any ten digits, valid or not.
``POSTCODE``
    full UK postcodes in any case, with or without the space, and ``GIR 0AA``; the letters
    follow Royal Mail's position rules, so ``2pm`` or ``3am`` never look like an inward code.
``PHONE``
    UK numbers with ``0``, ``+44``, ``0044`` or ``+44 (0)``: mobiles, landlines with spaces,
    brackets, dashes or dots, ``0800`` / ``03`` numbers; ten or eleven digits. Three-digit service
    numbers (111, 999, 101, 112) are never phone numbers here.
``EMAIL``, ``URL``
    addresses; ``http(s)://`` and ``www.`` links, and bare domains on common endings
    (``nhs.uk/foo``, ``example.com``).
``NI_NUMBER``
    National Insurance numbers: two prefix letters by HMRC's rules, six digits, suffix A-D,
    spaced or not (the suffix may be missing after "NI number" / "national insurance").
``DATE_OF_BIRTH``
    a date in a common UK format (``12/03/1985``, ``12-3-85``, ``12 March 1985``,
    ``March 12th, 1985``, ``1985-03-12``) shortly after "born", "date of birth", "DOB",
    "d.o.b" or "birthday", or just before "(DOB)". Other dates (appointments) are kept.
``NAME``
    a heuristic: a capitalised name after a title (Dr, Doctor, Mr, Mrs, Ms, Miss, Mx, Nurse,
    Sister, Matron, Prof), which stays ("Nurse [NAME]"); "my name is X", "named X", "a nurse
    called X"; "I am X" / "called X" when X is a known first name; and capitalised words in the
    bundled list of common UK first names (``data/first_names.txt``), with care for names that
    are also words (see that file); plus the caller's own list of names always to remove
    (``names=``, whole words, any case).

Where findings overlap, the longest wins (then the order above), so ``jenny@nhs.net`` is one
email rather than a name and a domain. Text that is already a placeholder is left alone, so
``redact(redact(x)) == redact(x)``.

More recognisers can be added: anything with ``kind``, ``priority`` and
``find(text) -> Iterable[tuple[start, end]]`` (see :class:`Recogniser`) may be passed to
:func:`find_personal_data` / :func:`redact` as ``recognisers=``, for example
``recognisers=(*DEFAULT_RECOGNISERS, my_recogniser)``.

Pure Python (``re`` only); no Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "DEFAULT_RECOGNISERS",
    "KINDS",
    "Finding",
    "Recogniser",
    "RegexRecogniser",
    "find_personal_data",
    "first_names",
    "nhs_number_is_valid",
    "redact",
]

NHS_NUMBER = "NHS_NUMBER"
POSTCODE = "POSTCODE"
PHONE = "PHONE"
EMAIL = "EMAIL"
URL = "URL"
NI_NUMBER = "NI_NUMBER"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
NAME = "NAME"
KINDS = (EMAIL, URL, NHS_NUMBER, NI_NUMBER, DATE_OF_BIRTH, PHONE, POSTCODE, NAME)
"""Every kind of finding, in order of precedence when two overlapping findings are as long."""

_PRIORITY = {kind: i for i, kind in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One item of personal data: ``text[start:end]`` (Python str indices) of ``kind``."""

    kind: str
    start: int
    end: int
    text: str
    placeholder: str = field(default="")

    def __post_init__(self) -> None:
        if not self.placeholder:
            object.__setattr__(self, "placeholder", f"[{self.kind}]")


@runtime_checkable
class Recogniser(Protocol):
    """Finds spans of one kind of personal data. ``priority``: lower wins ties of length.

    A recogniser may also have ``needs_digit = True``: it is then skipped for text without a
    digit (a speed-up; most comments have none)."""

    kind: str
    priority: int

    def find(self, text: str) -> Iterable[tuple[int, int]]: ...


@dataclass(frozen=True)
class RegexRecogniser:
    """A recogniser from one compiled pattern: the span of ``group`` of each match for which
    ``check(match)`` (if given) is true."""

    kind: str
    pattern: re.Pattern[str]
    group: int | str = 0
    check: Callable[[re.Match[str]], bool] | None = None
    priority: int = 100
    needs_digit: bool = False
    needs: str | None = None  # a substring the text must hold, checked first (a speed-up)

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        if self.needs is not None and self.needs not in text:
            return
        check, group = self.check, self.group
        for m in self.pattern.finditer(text):
            if m.group(group) is not None and (check is None or check(m)):
                yield m.span(group)


# --------------------------------------------------------------------------- NHS numbers

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_number_is_valid(number: str) -> bool:
    """Whether ``number`` (ten digits; spaces and dashes ignored) has a valid modulus-11 check
    digit. Numbers of one repeated digit (``0000000000``) are not valid."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


_NHS_RE = re.compile(r"(?<![\d+])\d{3}([ -]?)\d{3}\1\d{4}(?![\d])")
_NHS_CONTEXT_RE = re.compile(
    r"\bNHS[ \t]*(?:number|num|nbr|no\b\.?|#)[ \t]*(?:is\b|was\b|:|-|=)?[ \t:]*"
    r"(?P<num>\d{3}[ -]?\d{3}[ -]?\d{4})(?!\d)",
    re.IGNORECASE,
)


class _NhsNumbers:
    needs_digit = True
    kind = NHS_NUMBER
    priority = _PRIORITY[NHS_NUMBER]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        for m in _NHS_RE.finditer(text):
            if nhs_number_is_valid(m.group()):
                yield m.span()
        if "nhs" in text or "NHS" in text or "Nhs" in text:
            for m in _NHS_CONTEXT_RE.finditer(text):
                yield m.span("num")


# --------------------------------------------------------------------------- postcodes

_POSTCODE_RE = re.compile(
    r"(?<![\w-])(?:GIR ?0AA|"
    r"(?:[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?))"
    r" ?(?P<inward>\d[ABD-HJLNP-UW-Z]{2}))(?![\w-])",
    re.IGNORECASE,
)
_ORDINALS = {"1st", "2nd", "3rd"} | {f"{d}th" for d in "0456789"}


def _postcode_ok(m: re.Match[str]) -> bool:
    inward = m.group("inward")
    # "b12 3rd floor": a lowercase ordinal is not an inward code
    return inward is None or not (inward.islower() and inward in _ORDINALS)


# --------------------------------------------------------------------------- phones

_PHONE_RE = re.compile(
    r"(?<![\w+])(?P<prefix>(?:\+|00)[ \t]?44[ \t]?(?:\(0\)[ \t]?)?|\(0|0)"
    r"(?P<rest>\d+(?:(?:\)[ \t]?|[ \t.\-]|\)?-)\d+){0,4})"
)


_DIGITS_RE = re.compile(r"\d+")
_NON_DIGITS_RE = re.compile(r"\D")


class _Phones:
    needs_digit = True
    kind = PHONE
    priority = _PRIORITY[PHONE]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        pos = 0
        while (m := _PHONE_RE.search(text, pos)) is not None:
            pos = m.end()
            rest_start = m.start("rest")
            best = 0
            count = 1  # digits so far, counting the leading 0 (implied after +44)
            for g in _DIGITS_RE.finditer(m.group("rest")):
                count += len(g.group())
                if count > 11:
                    break
                if count >= 10:
                    best = rest_start + g.end()
                    if count == 11:
                        break
            if not best:
                continue
            digits = _NON_DIGITS_RE.sub("", text[rest_start:best])
            if digits[0] not in "1235789":  # 04 and 06 are not in use; 00 is international
                continue
            if len(digits) == 9 and digits[0] == "7":  # mobiles have eleven digits
                continue
            pos = best  # digits after the number may start another one
            start = m.start()
            if text[start] == "(" and ")" not in text[start:best]:
                start += 1  # "(07700 900123)": the bracket is not part of the number
            yield start, best


# --------------------------------------------------------------------------- email and URLs

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}\b"
)
# Bare domains (no scheme, no www.) only on these endings, in lower case, so that a missing
# space after a full stop ("great.Me and my wife") is not a link.
_TLDS = r"(?:com|org|net|uk|info|gov|io)"
_URL_RE = re.compile(
    r"(?:\b(?i:https?://|www\.)[^\s<>\"'\[\]]+"
    r"|(?<![\w@.\-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+" + _TLDS + r"\b"
    r"(?:/[^\s<>\"'\[\]]*)?)"
)
_URL_HINT_RE = re.compile(r"\.[A-Za-z]|://")
_URL_TRAILING = ".,;:!?)]}'\"”’"


class _Urls:
    kind = URL
    priority = _PRIORITY[URL]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        if _URL_HINT_RE.search(text) is None:
            return
        for m in _URL_RE.finditer(text):
            start, end = m.span()
            # drop trailing punctuation; keep a ")" that closes a "(" inside the link
            while end > start and text[end - 1] in _URL_TRAILING:
                if text[end - 1] == ")" and text.count("(", start, end) >= text.count(
                    ")", start, end
                ):
                    break
                end -= 1
            if end - start >= 4:
                yield start, end


# --------------------------------------------------------------------------- NI numbers

_NI_LETTERS = r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
_NI_RE = re.compile(
    r"(?<![\w])(?i:" + _NI_LETTERS + r")[ \t]?\d{2}([ \t]?)\d{2}\1\d{2}[ \t]?(?i:[A-D])(?!\w)"
)
_NI_CONTEXT_RE = re.compile(
    r"\b(?:national[ \t]+insurance|NI|NINO)[ \t]*(?:number|no\b\.?|#)?[ \t]*(?:is\b|:|-)?[ \t:]*"
    r"(?P<num>" + _NI_LETTERS + r"[ \t]?\d{2}[ \t]?\d{2}[ \t]?\d{2}(?:[ \t]?[A-D])?)(?!\w)",
    re.IGNORECASE,
)


class _NiNumbers:
    needs_digit = True
    kind = NI_NUMBER
    priority = _PRIORITY[NI_NUMBER]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        for m in _NI_RE.finditer(text):
            yield m.span()
        for m in _NI_CONTEXT_RE.finditer(text):
            yield m.span("num")


# --------------------------------------------------------------------------- dates of birth

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
_DATE = (
    r"(?:(?:0?[1-9]|[12]\d|3[01])[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:" + _YEAR + r"|\d\d)"
    r"|" + _YEAR + r"-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])"
    r"|" + _DAY + r"[ \t]+(?:of[ \t]+)?" + _MONTH + r",?[ \t]+(?:" + _YEAR + r"|'?\d\d)"
    r"|" + _MONTH + r"[ \t]+" + _DAY + r",?[ \t]+" + _YEAR + r")(?![\w/])"
)
_DOB_CONTEXT = (
    r"(?:\bborn\b|\bdate[ \t]+of[ \t]+birth\b|\bd\.?[ \t]?o\.?[ \t]?b\b\.?|\bbirth[ \t]?day\b"
    r"|\bbirth[ \t]+date\b)"
)
_DOB_RE = re.compile(
    r"(?:" + _DOB_CONTEXT + r"[^\d.!?\n]{0,30}?(?P<after>" + _DATE + r"))"
    r"|(?:(?<![\w/])(?P<before>"
    + _DATE
    + r")[ \t]*[(\[,\-][ \t]*(?:dob|d\.o\.b\.?|date of birth)\b)",
    re.IGNORECASE,
)


_DOB_HINT_RE = re.compile(r"(?i:born|birth|d\W?o\W?b)")


class _DatesOfBirth:
    needs_digit = True
    kind = DATE_OF_BIRTH
    priority = _PRIORITY[DATE_OF_BIRTH]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        if _DOB_HINT_RE.search(text) is None:
            return
        for m in _DOB_RE.finditer(text):
            yield m.span("after") if m.group("after") is not None else m.span("before")


# --------------------------------------------------------------------------- names

_DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def first_names() -> dict[str, str]:
    """The bundled common UK first names: name -> mark ("" plain, "~" not at the start of a
    sentence, "*" only with a surname, title or introduction). See ``data/first_names.txt``."""
    names: dict[str, str] = {}
    for line in (_DATA / "first_names.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        names[parts[0]] = parts[1] if len(parts) > 1 else ""
    return names


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitalised words that are not names even after a title or a first name.
_NOT_NAMES = _words(
    """
    A An And Are As At Be Because Been Being But By Can Could Did Do Does Each Even Every For
    From Had Has Have He Her Here Hers Him His How I If In Is It Its Just Me My No Nor Not Now
    Of On Once One Only Or Our Out Over Please Really Said Says She So Some Still Such Than
    Thank Thanks That The Their Them Then There These They This Those Though Through To Told
    Too Very Was We Well Were What When Where Which While Who Whom Whose Why Will With Would Yes
    Yet You Your Also Always Never All Everyone Everything Nothing Someone Again Always After
    Before During Since Until Today Tomorrow Yesterday Ok Okay Hi Hello Dear Sir Madam Team
    Staff Nurse Nurses Doctor Doctors Dr Sister Matron Consultant Registrar Surgeon Specialist
    Practitioner Physio Physiotherapist Therapist Receptionist Reception Manager Mental Health
    Service Services Ward Wards Unit Hospital Clinic Centre Center Surgery Practice Trust NHS
    Covid Corona Great Good Excellent Lovely Kind Brilliant Amazing Fantastic Wonderful Helpful
    Friendly Nice Best Absolutely Very Much Many More Most Other Another Both First Second Last
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December Christmas Easter God Lord Jesus
    English British Polish Indian Asian Scottish Welsh Irish Mum Mom Mummy Mam Dad Daddy
    Mother Father Nan Nana Nanna Nanny Gran Grandma Grandad Granddad Grandpa Son Daughter
    Husband Wife Partner Brother Auntie Aunty Aunt Uncle Baby Sir
    """
)
# Words after a name that make it a place, not a person ("Byron House", "Rose Ward").
_PLACE_WORDS = _words(
    """
    House Ward Wards Unit Centre Center Court Lodge Road Street Lane Avenue Drive Close Way
    Clinic Surgery Practice Hospital Hall Building Wing Suite Park Place Square Gardens Green
    Cottage Villa Grange Manor Medical Health Hospice Community Team Service Services Trust
    Suite Block Annexe Annex Room School College University Library Station Hill Walk Crescent
    """
)

_WORD = r"(?:O['’])?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"
_SAINT_RE = re.compile(r"\b(?:St|ST|Saint)\.?[ \t]+$")
_NEXT_WORD_RE = re.compile(r"[ \t]+([A-Za-z]+)")
_CAP_WORD_RE = re.compile(r"(?<![\w'’\-])" + _WORD + r"(?![\w\-])")
_TITLE_RE = re.compile(
    r"(?<![\w])(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?|[Dd]octor|[Nn]urse|[Ss]ister|[Mm]atron|[Mm]iss"
    r"|[Pp]rofessor|DR|NURSE|SISTER|MATRON)"
    r"(?:[ \t]+|,[ \t]*)(?P<name>" + _WORD + r")(?:[ \t]+(?P<second>" + _WORD + r"))?"
)
_INTRO_RE = re.compile(
    r"(?P<intro>\b(?i:my[ \t]+name[ \t]+is|my[ \t]+name's|named|i[ \t]+am|i'm|i’m|called"
    r"|(?:lady|man|woman|gentleman|guy|girl|chap|bloke|nurse|doctor|receptionist|therapist"
    r"|physio|carer|worker|practitioner|consultant|lad|fella)[ \t]+(?:called|named)))"
    r"[ \t]+(?P<name>" + _WORD + r")(?:[ \t]+(?P<second>" + _WORD + r"))?"
)
# after these only a known first name is taken; after the others any capitalised word
_INTRO_HINTS = ("name", "i am", "i'm", "i’m", "called")
_WEAK_INTROS = frozenset({"i am", "i'm", "i’m", "called"})


def _surname(m: re.Match[str]) -> bool:
    second = m.group("second")
    return second is not None and second not in _NOT_NAMES and second not in _PLACE_WORDS


def _sentence_start(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] in " \t\r\"'“‘([*•-–":
        j -= 1
    return j < 0 or text[j] in ".!?\n:;"


class _Names:
    """The first-name heuristic, titles and introductions."""

    kind = NAME
    priority = _PRIORITY[NAME]

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        known = first_names()
        for m in _TITLE_RE.finditer(text):
            name = m.group("name")
            if name in _NOT_NAMES or name in _PLACE_WORDS:
                continue
            yield m.start("name"), m.end("second") if _surname(m) else m.end("name")
        lower = text.lower()
        intros = any(hint in lower for hint in _INTRO_HINTS)
        for m in _INTRO_RE.finditer(text) if intros else ():
            name = m.group("name")
            if name in _NOT_NAMES or name in _PLACE_WORDS:
                continue
            intro = " ".join(m.group("intro").lower().split())
            if intro in _WEAK_INTROS and name not in known:
                continue  # "I am Nottingham born", "I called Boots"
            yield m.start("name"), m.end("second") if _surname(m) else m.end("name")
        for m in _CAP_WORD_RE.finditer(text):
            word = m.group()
            mark = known.get(word)
            if mark is None:
                continue
            if _SAINT_RE.search(text, max(0, m.start() - 7), m.start()):
                continue  # "St Luke's", "St Ann's House"
            end = m.end()
            after = _NEXT_WORD_RE.match(text, end)
            if after is not None and after.group(1).capitalize() in _PLACE_WORDS:
                continue  # "Byron House", "Rose Ward", "Fraser ward"
            nxt = _CAP_WORD_RE.match(text, end + 1) if text[end : end + 1] == " " else None
            has_surname = nxt is not None and nxt.group() not in _NOT_NAMES
            if mark == "*" and not has_surname:
                continue
            if mark == "~" and not has_surname and _sentence_start(text, m.start()):
                continue
            yield m.start(), nxt.end() if has_surname else end


@lru_cache(maxsize=256)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = sorted({" ".join(n.split()) for n in names if n and n.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    body = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in cleaned)
    return re.compile(r"(?<!\w)(?:" + body + r")(?!\w)", re.IGNORECASE)


_DIGIT_RE = re.compile(r"\d")
_PLACEHOLDER_RE = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")

DEFAULT_RECOGNISERS: tuple[Recogniser, ...] = (
    RegexRecogniser(EMAIL, _EMAIL_RE, priority=_PRIORITY[EMAIL], needs="@"),
    _Urls(),
    _NhsNumbers(),
    _NiNumbers(),
    _DatesOfBirth(),
    _Phones(),
    RegexRecogniser(
        POSTCODE, _POSTCODE_RE, check=_postcode_ok, priority=_PRIORITY[POSTCODE], needs_digit=True
    ),
    _Names(),
)
"""The recognisers :func:`find_personal_data` uses unless told otherwise."""


def _check_text(text: object, func: str) -> str:
    if not isinstance(text, str):
        raise TypeError(
            f"{func}() takes the text as a str, not {type(text).__name__}"
            + ("; pass '' when there is no text" if text is None else "")
        )
    return text


def find_personal_data(
    text: str,
    *,
    names: Iterable[str] = (),
    recognisers: Sequence[Recogniser] | None = None,
) -> list[Finding]:
    """The personal data in ``text``: non-overlapping findings sorted by position.

    ``names``: names always to remove (whole words, any case), such as a programme's staff.
    ``recognisers``: the recognisers to run (default :data:`DEFAULT_RECOGNISERS`). Where spans
    overlap the longest wins, then the lower ``priority``.
    """
    text = _check_text(text, "find_personal_data")
    if not text:
        return []
    if isinstance(names, str):
        names = (names,)
    spans: list[tuple[int, int, int, int, str]] = []  # -length, priority, start, end, kind
    has_digit = _DIGIT_RE.search(text) is not None
    for rec in DEFAULT_RECOGNISERS if recognisers is None else recognisers:
        if not has_digit and getattr(rec, "needs_digit", False):
            continue
        kind, priority = rec.kind, rec.priority
        for start, end in rec.find(text):
            if end > start:
                spans.append((start - end, priority, start, end, kind))
    pattern = _names_pattern(tuple(names))
    if pattern is not None:
        for m in pattern.finditer(text):
            spans.append((m.start() - m.end(), _PRIORITY[NAME], m.start(), m.end(), NAME))
    if not spans:
        return []
    if "[" in text:  # leave existing placeholders alone: redact is idempotent
        for m in _PLACEHOLDER_RE.finditer(text):
            spans.append((-(10**9), -1, m.start(), m.end(), ""))
    spans.sort()
    taken: list[tuple[int, int, str]] = []
    for _, _, start, end, kind in spans:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, kind))
    taken.sort()
    return [Finding(kind, s, e, text[s:e]) for s, e, kind in taken if kind]


def redact(
    text: str,
    *,
    names: Iterable[str] = (),
    recognisers: Sequence[Recogniser] | None = None,
) -> str:
    """``text`` with every personal item replaced by a bracketed placeholder such as
    ``[NHS_NUMBER]``, ``[POSTCODE]``, ``[PHONE]``, ``[EMAIL]``, ``[URL]``, ``[NI_NUMBER]``,
    ``[DATE_OF_BIRTH]`` or ``[NAME]`` (a title stays: "Nurse [NAME]").

    ``names``: names always to remove, whole words in any case (a programme's list).
    """
    text = _check_text(text, "redact")
    findings = find_personal_data(text, names=names, recognisers=recognisers)
    if not findings:
        return text
    out: list[str] = []
    pos = 0
    for f in findings:
        out.append(text[pos : f.start])
        out.append(f.placeholder)
        pos = f.end
    out.append(text[pos:])
    return "".join(out)

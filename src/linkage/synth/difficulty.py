"""How hard the synthetic extracts are: the error classes real extracts have, at set rates.

``easy`` is the original generator, byte for byte (every class below off). ``realistic``
and ``hard`` add the classes a linkage of a real 42k-record extract missed. Each class
draws from its own generator seeded by the child or record, so switching a class on
never changes the children themselves, and the class of every injected error is
written to ``truth_classes.csv`` so misses can be counted per class.

The rates are assumptions (see docs/benchmarks.md), not measurements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from linkage.validation.identifiers import UPN_LETTERS, upn_check_letter

__all__ = ["CLASSES", "DIFFICULTIES", "Difficulty", "difficulty", "near_twin_name", "script_variant",
           "script_group", "temporary_upn", "second_upn"]

CLASSES = ("second_upn", "second_upn_former", "temporary_upn", "forename_typo", "near_twin_names",
           "same_name_twins", "surname_change_move", "swap_nickname", "dob_plus", "non_latin",
           "second_file")


@dataclass(frozen=True)
class Difficulty:
    name: str
    second_upn: float = 0.0        # children with a UPN: a second UPN issued at a later school
    temporary_upn: float = 0.0     # children with a UPN: the school record holds a temporary one
    forename_typo: float = 0.0     # records of children with no twin: two slips in the forename
    near_twin_names: float = 0.0   # twin pairs: names one or two letters apart (Gerard/Gerald)
    same_name_twins: float = 0.0   # twin pairs: the same forename (told apart by middle name)
    surname_change_move: float = 0.0   # children: new surname and a move; one agency has neither
    swap_nickname: float = 0.0     # records: forename/surname swapped and a nickname used
    dob_plus: float = 0.0          # records: a date-of-birth slip together with a surname slip
    non_latin: float = 0.0         # children (no twin): a name from another script, transliterated per agency
    second_files: float = 0.0      # households on an early-help list (and an AP roll beside the census)


DIFFICULTIES = {
    "easy": Difficulty("easy"),
    "realistic": Difficulty("realistic", second_upn=0.01, temporary_upn=0.005, forename_typo=0.01,
                            near_twin_names=0.10, same_name_twins=0.02, surname_change_move=0.01,
                            swap_nickname=0.003, dob_plus=0.004, non_latin=0.02,
                            second_files=0.02),
    "hard": Difficulty("hard", second_upn=0.03, temporary_upn=0.02, forename_typo=0.03,
                       near_twin_names=0.25, same_name_twins=0.05, surname_change_move=0.03,
                       swap_nickname=0.01, dob_plus=0.012, non_latin=0.05,
                       second_files=0.05),
}


def difficulty(name: str) -> Difficulty:
    try:
        return DIFFICULTIES[name]
    except KeyError:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}") from None


# Twins' names a letter or two apart, or sharing a stem: (first twin's name -> co-twin's).
_NEAR = {"M": [("Gerard", "Gerald"), ("Aiden", "Aidan"), ("Kian", "Kien"), ("Leon", "Leo"),
               ("Ryan", "Bryan"), ("Jaden", "Jayden"), ("Mason", "Jason"), ("Harvey", "Harry"),
               ("Eli", "Ellis"), ("Oliver", "Olivier"), ("Louis", "Lewis"), ("Alfie", "Albie")],
         "F": [("Ellie", "Elaine"), ("Charlotte", "Charlie"), ("Ella", "Bella"), ("Lily", "Lilly"),
               ("Anna", "Hannah"), ("Amelia", "Amelie"), ("Isla", "Isha"), ("Macy", "Maisie"),
               ("Sophia", "Sofia"), ("Mia", "Maya"), ("Leah", "Lea"), ("Erin", "Evie")]}


def near_twin_name(rng: random.Random, sex: str) -> tuple[str, str]:
    return rng.choice(_NEAR[sex])


# Names from Arabic, Chinese, Greek and Cyrillic script: each agency writes its own
# transliteration; a few records keep the original script.
_SCRIPT_FORENAMES = {
    "M": [["Muhammad", "Mohammed", "Mohamed", "Mohammad", "محمد"], ["Yusuf", "Youssef", "Yousef", "يوسف"],
          ["Dmitri", "Dmitry", "Dmitriy", "Дмитрий"], ["Ioannis", "Yiannis", "Giannis", "Ιωάννης"],
          ["Aleksei", "Alexei", "Alexey", "Алексей"], ["Hamza", "Hamzah", "حمزة"],
          ["Zihao", "Tzu-hao", "Zi Hao", "子豪"], ["Abdulrahman", "Abdul Rahman", "Abdelrahman", "عبدالرحمن"]],
    "F": [["Aisha", "Ayesha", "Aysha", "عائشة"], ["Fatima", "Fatimah", "Fatema", "فاطمة"],
          ["Yekaterina", "Ekaterina", "Katerina", "Екатерина"], ["Anastasia", "Anastasiya", "Анастасия"],
          ["Eleni", "Elení", "Helena", "Ελένη"], ["Xiaoling", "Xiao Ling", "Hsiao-ling", "晓玲"],
          ["Maryam", "Mariam", "Meryem", "مريم"], ["Yulia", "Julia", "Iuliia", "Юлия"]],
}
_SCRIPT_SURNAMES = [["Al-Hassan", "Alhassan", "El-Hassan", "الحسن"], ["Zhang", "Chang", "Cheung", "张"],
                    ["Chen", "Chan", "Chenn", "陈"], ["Ivanov", "Ivanoff", "Иванов"],
                    ["Papadopoulos", "Papadopoulou", "Παπαδόπουλος"], ["Abdullah", "Abdallah", "Abdulla", "عبدالله"],
                    ["Kuznetsov", "Kuznetsova", "Kouznetsov", "Кузнецов"], ["Wang", "Wong", "王"]]


def script_group(rng: random.Random, sex: str) -> tuple[list[str], list[str]]:
    return rng.choice(_SCRIPT_FORENAMES[sex]), rng.choice(_SCRIPT_SURNAMES)


def script_variant(rng: random.Random, group: list[str], p_native: float = 0.1) -> str:
    """One agency's spelling: a Latin transliteration, or now and then the original script."""
    latin = [g for g in group if g.isascii() or any(c in g for c in "í")]
    native = [g for g in group if g not in latin]
    return rng.choice(native) if native and rng.random() < p_native else rng.choice(latin)


def second_upn(rng: random.Random, upn: str) -> str:
    """A new permanent UPN issued by a later school in the same authority."""
    while True:
        body = upn[1:4] + f"{rng.randrange(2000, 7000):04d}" + upn[8:10] + f"{rng.randrange(1000):03d}"
        new = upn_check_letter(body) + body
        if new != upn:
            return new


def temporary_upn(rng: random.Random, upn: str) -> str:
    """A temporary UPN: the same shape, its final character a letter."""
    body = upn[1:12] + rng.choice(UPN_LETTERS)
    return upn_check_letter(body) + body

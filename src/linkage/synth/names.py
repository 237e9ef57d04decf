"""Name frequencies for children in England: popular names common, a long tail rare.

Popularity-ranked given names and surnames (public aggregate statistics, no
person's data). Weights follow a Zipf curve over the rank, scaled so the most
popular names have roughly their real shares (about 3% of boys are Oliver or
Muhammad; about 1.3% of people are Smith), and Faker's name lists for the
communities of modern England (British, Irish, South Asian, Polish, Romanian,
Lithuanian, Italian, Portuguese, Turkish, Nigerian and more) supply the tail.
"""

from __future__ import annotations

import importlib

__all__ = ["BOYS", "GIRLS", "SURNAMES", "weighted"]

_BOYS = """Oliver Jack Harry George Noah Charlie Jacob Alfie Freddie Oscar Leo Thomas William
James Joshua Henry Archie Ethan Isaac Alexander Joseph Samuel Daniel Logan Edward Lucas Max
Mohammed Benjamin Mason Harrison Theo Jake Sebastian Finley Arthur Adam Dylan Riley Zachary
Teddy David Toby Theodore Elijah Matthew Jenson Jayden Harvey Reuben Harley Luca Michael Hugo
Lewis Frankie Luke Stanley Tommy Jude Blake Louie Nathan Gabriel Charles Bobby Ryan Tyler
Elliott Albert Rory Frederick Louis Dexter Jaxon Liam Jackson Callum Ronnie Leon Kai Aaron Roman
Austin Ellis Jamie Reggie Seth Carter Felix Ibrahim Sonny Kian Caleb Connor José""".split()

_GIRLS = """Olivia Amelia Isla Ava Emily Isabella Mia Poppy Ella Lily Jessica Sophie Grace Evie
Sophia Charlotte Freya Daisy Ruby Chloe Isabelle Alice Florence Sienna Phoebe Matilda Scarlett
Millie Harper Ivy Willow Evelyn Elsie Rosie Lucy Erin Eva Esme Imogen Holly Layla Maisie Emma
Hannah Ellie Lola Megan Elizabeth Georgia Molly Zara Eliza Maya Amelie Harriet Mila Thea Bella
Violet Zoë Aria Annabelle Niamh Gracie Amber Summer Lacey Eleanor Lexi Leah Abigail Martha
Katie Lydia Anna Rose Ayla Emilia Victoria Sofia Heidi Clara Sarah Bethany Beatrice Maryam
Robyn Nancy Orla Aisha Lauren Alexandra Chloé Renée Siobhán""".split()

_SURNAMES = """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts
Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel
Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan
Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly
Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall
Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray
Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler
Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey O'Brien O'Connor Nowak Kowalski
Okafor Adeyemi Nguyen""".split()


_LOCALES = ("en_GB", "en_IE", "en_IN", "pl_PL", "ro_RO", "lt_LT", "it_IT", "pt_PT", "tr_TR", "yo_NG", "en_US")


def _faker_names(attribute: str) -> list[str]:
    names: list[str] = []
    for loc in _LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        names.extend(getattr(provider, attribute, ()) or ())
    return [n for n in dict.fromkeys(names) if n.replace("-", "").replace("'", "").isalpha()]


def _zipf(names: list[str], exponent: float) -> dict[str, float]:
    return {n: 1 / (rank ** exponent) for rank, n in enumerate(names, start=1)}


def weighted(head: list[str], tail: list[str], tail_share: float, exponent: float) -> dict[str, float]:
    """Head names Zipf-weighted; tail names share ``tail_share`` of the mass evenly."""
    weights = _zipf(head, exponent)
    head_mass = sum(weights.values())
    extra = [n for n in dict.fromkeys(tail) if n not in weights]
    if extra:
        each = head_mass * tail_share / (1 - tail_share) / len(extra)
        weights.update({n: each for n in extra})
    return weights


BOYS = weighted(_BOYS, _faker_names("first_names_male"), 0.4, 0.5)
GIRLS = weighted(_GIRLS, _faker_names("first_names_female"), 0.4, 0.5)
SURNAMES = weighted(_SURNAMES, _faker_names("last_names"), 0.8, 0.6)

"""Suggestions by meaning for prompt words the procedural backend does not know.

A hint by spelling misleads where a near-spelled word means something else ("tyres" is
not "trees", "brakes" is not "breaks", which is glass).  This table maps everyday Foley
words the vocabulary lacks to the known words that come closest in *sound*; spelling is
only the fallback, for typos ("rian", "gravle").  Every suggestion must be a word the
parser knows (``tests/test_prompt_warnings.py`` checks the table against the vocabulary).
"""
from __future__ import annotations


def _table(rows: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """``{"word other": "known known"}`` -> each word to the known words."""
    return {word: tuple(known.split()) for words, known in rows.items() for word in words.split()}


#: unknown word -> known words that sound closest (the vocabulary's classes, docs/procedural.md)
MEANINGS: dict[str, tuple[str, ...]] = _table({
    # road: tyres, brakes and engines are cars passing (no skid or squeal of its own)
    "tyre tyres tire tires wheel wheels rubber skid skids skidding screech screeching squeal squealing "
    "brake brakes braking engine engines motor motors horn horns honk honking truck trucks bus buses "
    "motorbike motorbikes motorcycle motorcycles scooter van vans taxi tram": "car traffic",
    "bicycle bicycles bike bikes cyclist cycling": "traffic whoosh",
    "pass passes passing passby driveby drive drives driving": "traffic whoosh",
    "train trains railway subway metro": "traffic station",
    "plane planes airplane aeroplane jet jets helicopter drone": "whoosh wind",
    # people
    "applause clapping cheer cheering cheers laughter laughing laugh shouting chant chanting "
    "conversation dialogue": "crowd",
    # objects handled or struck
    "keyboard typing keys mouse click clicks": "plastic tapping",
    "cutlery fork forks knife knives spoon spoons dishes dish": "metal plates",
    "coin coins jingle jingling chime chimes": "bells",
    "phone ringing ring": "bell",
    "paper papers newspaper book books page pages leather zipper": "rustle",
    "gun guns gunshot gunshots gunfire shot shots rifle pistol firework fireworks": "explosion",
    "sizzle sizzling frying": "fire",
    # places and weather
    "hail hailstorm sleet": "rain",
    "rainforest": "forest rain",
    "seagull seagulls gull gulls lake": "ocean",
    "lab laboratory hospital library corridor hallway bedroom kitchen bathroom": "room tone",
    "fan fans fridge refrigerator aircon air-conditioning hvac": "hum",
})


def by_meaning(word: str) -> tuple[str, ...]:
    """Known words that mean what ``word`` means, or ()."""
    return MEANINGS.get(word, ())

"""The sound kinds and the words that pick them: prompt text -> {kind: weight}.

A prompt is a list of phrases separated by commas, semicolons, new lines,
"and", "with", "&" or "+".  Within a phrase, words name kinds directly
("rain", "door"), name a material ("wooden", "steel", "glass"), say that
someone walks ("footsteps", "running"), or say that something is hit
("impacts", "bang").  A material goes with what the phrase is about:
"footsteps on a wooden floor" is wooden footsteps, "metal door" is a door,
"rain on a tin roof" is rain plus tin-roof patter, and on its own or with
a hit word ("metal impacts") it is an impact of that material.
See docs/procedural.md for the full table.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from .meanings import by_meaning

#: what makes a kind sound
IMPACT = "impact"  # one of these plays on each impact / flash onset
FLASH = "flash"  # flash onsets only
FOOTSTEPS = "footsteps"  # walking rhythm in the motion energy
MOTION = "motion"  # follows motion energy continuously
BED = "bed"  # ambience, always on


@dataclass(frozen=True)
class Kind:
    name: str
    family: str
    description: str
    words: tuple[str, ...] = ()


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("impact_wood", IMPACT, "knock on wood: few modes 200 Hz-2 kHz, fast decay"),
    Kind("impact_metal", IMPACT, "metal clang: inharmonic partials ringing for seconds"),
    Kind("impact_glass", IMPACT, "glass clink, with a shatter on strong hits"),
    Kind("impact_stone", IMPACT, "stone/concrete thud with gritty debris"),
    Kind("impact_plastic", IMPACT, "hollow, short plastic knock"),
    Kind("impact_soft", IMPACT, "neutral muffled thud (the fallback impact)"),
    Kind("punch", IMPACT, "low body thump plus skin slap", _w(
        "punch punches punching punched fist fists fight fights fighting fistfight kick kicks kicking slap slaps "
        "slapping smack smacks boxing boxer brawl jab jabs uppercut")),
    Kind("door", IMPACT, "door slam with latch on impacts; hinge creak when motion starts", _w(
        "door doors slam slams slamming slammed creak creaks creaking creaky hinge hinges gate gates latch "
        "doorway cupboard cabinet shut shuts")),
    Kind("splash", IMPACT, "something hits water: plunk, spray, bubbles", _w(
        "splash splashes splashing water dive diving plunge swim swimming puddle puddles paddle paddling wade")),
    Kind("thunder", FLASH, "lightning crack and rolling rumble on flashes", _w(
        "thunder thunderstorm thunderclap lightning explosion explosions boom booms blast storm stormy")),
    Kind("footsteps_wood", FOOTSTEPS, "steps on floorboards: hollow knock, heel and toe"),
    Kind("footsteps_concrete", FOOTSTEPS, "steps on hard ground: short thump and gritty scuff"),
    Kind("footsteps_gravel", FOOTSTEPS, "steps on gravel: dense crunch of grains"),
    Kind("footsteps_grass", FOOTSTEPS, "steps on grass or leaves: soft crinkly rustle"),
    Kind("footsteps_snow", FOOTSTEPS, "steps in snow: squeaky compressed crunch"),
    Kind("footsteps_metal", FOOTSTEPS, "steps on metal grating: clanky ring"),
    Kind("whoosh", MOTION, "band noise following motion energy (pitch and level), panned with x; swish on starts", _w(
        "whoosh whooshes whooshing woosh swoosh swooshes swish swishes swing swings swinging swipe swipes whip "
        "whips flyby zoom zooms zip motion")),
    Kind("rustle", MOTION, "cloth and handling noise following motion energy", _w(
        "rustle rustles rustling cloth clothes clothing fabric jacket coat movement movements handling sleeve "
        "garment")),
    Kind("rain", BED, "broadband steady rain: hiss and dense drops", _w(
        "rain raining rainy rainfall downpour drizzle shower showers rainstorm storm stormy")),
    Kind("rain_tin", BED, "rain patter ringing on a tin/metal roof", _w("patter pattering roof rooftop")),
    Kind("wind", BED, "gusting low wind with a wandering howl", _w(
        "wind winds windy breeze breezy gust gusts gusty gale gales howling blizzard draft draught storm stormy")),
    Kind("forest", BED, "leaves, quiet air and bird songs", _w(
        "forest forests woods woodland jungle birds bird birdsong chirp chirps chirping tweet tweeting songbird "
        "songbirds nature park countryside garden trees")),
    Kind("ocean", BED, "waves: swelling low roar and washing foam", _w(
        "ocean oceans sea seas waves wave surf beach shore coast coastal seaside tide harbor harbour")),
    Kind("traffic", BED, "distant rumble and passing cars", _w(
        "traffic car cars street streets city urban highway freeway road roads vehicle vehicles downtown "
        "motorway intersection")),
    Kind("crowd", BED, "murmur of many voices", _w(
        "crowd crowds people chatter murmur murmuring walla audience restaurant cafe party market babble voices "
        "talking bar pub station mall")),
    Kind("room_tone", BED, "very quiet room air with a faint hum (the fallback bed)", _w(
        "roomtone room ambience ambient silence silent quiet interior indoor indoors office hum tone")),
    Kind("fire", BED, "fire: low roar, crackles and pops", _w(
        "fire fires fireplace campfire crackling crackle crackles flames flame burning bonfire torch embers hearth")),
    Kind("drip", BED, "a leaking tap: plinks with small room echoes", _w(
        "drip drips dripping droplet droplets leak leaks leaking leaky tap faucet")),
    Kind("pour", BED, "pouring/running water: bubbles and splashy noise, louder with motion", _w(
        "pour pours pouring poured stream streams river rivers brook creek fountain trickle trickling "
        "flowing flow waterfall")),
]}

#: material -> (impact kind or None, footstep surface); "soft" has no footstep surface of its own
MATERIALS = {
    "wood": ("impact_wood", "wood"),
    "metal": ("impact_metal", "metal"),
    "glass": ("impact_glass", "concrete"),
    "stone": ("impact_stone", "concrete"),
    "plastic": ("impact_plastic", "wood"),
    "soft": ("impact_soft", "grass"),
    "gravel": (None, "gravel"),
    "grass": (None, "grass"),
    "snow": (None, "snow"),
}

#: words naming a material that can also be struck
_MATERIAL_WORDS = {
    "wood": "wood wooden timber plank planks log logs stick sticks crate crates table desk chair bat knock knocks "
            "knocking knocked",
    "metal": "metal metallic steel iron tin aluminium aluminum can cans pipe pipes clang clangs clanging clank "
             "clanks clanking anvil pan pans pot pots sword swords chain chains hammer locker lockers bell bells",
    "glass": "glass bottle bottles window windows shatter shatters shattering smash smashes smashing jar jars "
             "ceramic porcelain plate plates mug cup cups crystal clink clinks",
    "stone": "stone stones rock rocks concrete brick bricks boulder boulders cement marble",
    "plastic": "plastic hollow bucket toy toys case container",
    "soft": "cardboard cushion pillow mattress sack bag body",
}

#: words that only describe a surface to walk on (no impact on their own)
_SURFACE_WORDS = {
    "wood": "floorboard floorboards parquet hardwood deck stage boards",
    "metal": "grate grating catwalk ladder",
    "stone": "pavement sidewalk asphalt tile tiles tiled street road cobbles cobble cobblestone cobblestones",
    "gravel": "gravel dirt pebble pebbles path trail rubble",
    "grass": "grass grassy leaves leaf lawn undergrowth foliage meadow field sand sandy mud muddy forest woods",
    "snow": "snow snowy ice icy frost frozen slush",
}

_FOOT_WORDS = set(_w(
    "footstep footsteps step steps walk walks walking walked walker run runs running runner jog jogs jogging "
    "footfall footfalls feet foot shoe shoes boot boots heel heels sneaker sneakers stomp stomps stomping pace "
    "pacing march marching stairs stair tiptoe tiptoeing sprint sprinting hike hiking stroll strolling tread"))

_HIT_WORDS = set(_w(
    "hit hits hitting impact impacts bang bangs banging crash crashes crashing thud thuds thump thumps bump bumps "
    "collision collisions collide drop drops dropped fall falls falling strike strikes striking taps tapping "
    "clatter whack whacks knock knocks knocking break breaks breaking broke"))

#: several words that mean one thing; replaced before splitting into words
_MULTI = {
    "room tone": "room_tone", "running water": "pour", "running tap": "pour", "running faucet": "pour", "tin roof": "rain_tin", "metal roof": "rain_tin",
    "corrugated roof": "rain_tin", "car roof": "rain_tin", "fly by": "whoosh", "fly-by": "whoosh",
    "water drops": "drip", "dripping water": "drip", "forest floor": "leaves", "dawn chorus": "birds",
}

#: in a negative prompt a family word removes the whole family
_NEGATIVE_FAMILIES = {
    "water": ("splash", "drip", "pour"),
    "rain": ("rain", "rain_tin"),
    "ambience": tuple(k for k, v in KINDS.items() if v.family == BED),
    "background": tuple(k for k, v in KINDS.items() if v.family == BED),
}

MAX_WEIGHT = 4.0
EMPHASIS = 1.5  # "(phrase)" multiplies the weight by this; "[phrase]" divides
FALLBACK = {"room_tone": 1.0, "impact_soft": 1.0}


@dataclass(frozen=True)
class _Word:
    kinds: tuple[str, ...] = ()
    material: str | None = None
    surface_only: bool = False
    foot: bool = False
    hit: bool = False


def _lexicon() -> dict[str, _Word]:
    entries: dict[str, dict] = {}

    def add(word, kinds=(), **fields):
        e = entries.setdefault(word, {"kinds": ()})
        e["kinds"] += tuple(k for k in kinds if k not in e["kinds"])
        e.update(fields)

    for kind in KINDS.values():
        add(kind.name, kinds=(kind.name,))
        for word in kind.words:
            add(word, kinds=(kind.name,))
    for material, words in _MATERIAL_WORDS.items():
        for word in words.split():
            add(word, material=material)
    for material, words in _SURFACE_WORDS.items():
        for word in words.split():
            if "material" not in entries.get(word, {}):
                add(word, material=material, surface_only=True)
    for word in _FOOT_WORDS:
        add(word, foot=True)
    for word in _HIT_WORDS:
        add(word, hit=True)
    return {w: _Word(**e) for w, e in entries.items()}


LEXICON = _lexicon()
_MULTI_RE = re.compile(r"\b(?:" + "|".join(re.escape(m) for m in _MULTI) + r")\b")
_SPLIT = re.compile(r"[,;\n|&+]+|\band\b|\bwith\b")
_WEIGHT = re.compile(r"^(.*?)\s*:\s*([0-9]*\.?[0-9]+)\s*$", re.S)


def _lookup(word: str) -> _Word | None:
    if word in LEXICON:
        return LEXICON[word]
    for suffix in ("es", "s", "ing", "ed"):
        if word.endswith(suffix) and word[: -len(suffix)] in LEXICON:
            return LEXICON[word[: -len(suffix)]]
    return None


def _weighted_phrases(text: str):
    """Yield (phrase, weight) for each phrase of a prompt."""
    lowered = _MULTI_RE.sub(lambda m: f" {_MULTI[m.group(0)]} ", text.lower())
    for raw in _SPLIT.split(lowered):
        phrase, weight = raw.strip(), 1.0
        while len(phrase) > 1 and phrase[0] + phrase[-1] in ("()", "[]"):
            weight = weight * EMPHASIS if phrase[0] == "(" else weight / EMPHASIS
            phrase = phrase[1:-1].strip()
        m = _WEIGHT.match(phrase)
        if m:
            phrase, weight = m.group(1).strip("() []"), float(m.group(2))
        if phrase:
            yield phrase, min(MAX_WEIGHT, max(0.0, weight))


def _phrase_kinds(phrase: str, negative: bool) -> set[str]:
    words = [w for w in (_lookup(t) for t in re.findall(r"[a-z_]+", phrase)) if w is not None]
    kinds = {k for w in words for k in w.kinds}
    materials = [w for w in words if w.material]
    foot = any(w.foot for w in words)
    hit = any(w.hit for w in words)
    if negative:
        for token in re.findall(r"[a-z_]+", phrase):
            kinds.update(_NEGATIVE_FAMILIES.get(token, ()))
        for w in materials:
            impact, surface = MATERIALS[w.material]
            kinds.update(k for k in (impact, f"footsteps_{surface}") if k)
            if w.material == "metal":
                kinds.add("rain_tin")
        if foot and not materials:
            kinds.update(k for k, v in KINDS.items() if v.family == FOOTSTEPS)
        if hit and not materials:
            kinds.update(k for k in KINDS if k.startswith("impact_"))
        return kinds
    if foot:
        surface = MATERIALS[materials[0].material][1] if materials else "concrete"
        kinds.add(f"footsteps_{surface}")
    elif kinds & {"door", "rain", "rain_tin"}:
        # The material describes the door or the roof, not a separate hit.
        if "rain" in kinds and any(w.material == "metal" for w in materials):
            kinds.add("rain_tin")
    else:
        struck = {MATERIALS[w.material][0] for w in materials if not w.surface_only} - {None}
        kinds |= struck
        if hit and not struck and not any(KINDS[k].family == IMPACT for k in kinds):
            kinds.add("impact_soft")
    return kinds


@lru_cache(maxsize=256)
def _parse(prompt: str, negative_prompt: str) -> tuple[tuple[str, float], ...]:
    weights: dict[str, float] = {}
    for phrase, weight in _weighted_phrases(prompt or ""):
        for kind in _phrase_kinds(phrase, negative=False):
            weights[kind] = max(weights.get(kind, 0.0), weight)
    if not weights:  # nothing recognised (a kind named with weight 0 counts as recognised)
        weights = dict(FALLBACK)
    weights = {k: w for k, w in weights.items() if w > 0}
    removed = set()
    for phrase, _ in _weighted_phrases(negative_prompt or ""):
        removed |= _phrase_kinds(phrase, negative=True)
    return tuple((k, weights[k]) for k in KINDS if k in weights and k not in removed)


def parse_prompt(prompt: str, negative_prompt: str = "") -> dict[str, float]:
    """Kinds and weights for a prompt, in registry order.

    >>> parse_prompt("footsteps on wooden floor, door slams:0.5")
    {'door': 0.5, 'footsteps_wood': 1.0}

    Nothing recognised in ``prompt`` gives room tone plus neutral impacts;
    kinds named in ``negative_prompt`` are then removed (which may leave none).
    """
    return dict(_parse(prompt or "", negative_prompt or ""))


#: words asking for one-shots to ring on across shot cuts
CONTINUITY_WORDS = frozenset(_w("continuous continuity sustained uninterrupted"))


def across_cuts(prompt: str) -> bool:
    """Whether the prompt asks for sounds to carry over cuts ("continuous", ...)."""
    return bool(CONTINUITY_WORDS & set(re.findall(r"[a-z]+", (prompt or "").lower())))


#: words that carry no sound of their own: never reported as unknown
FUNCTION_WORDS = frozenset(_w(
    "a an the of on in into onto at to from by over under through across along against off out up down "
    "some several many few lots lot one two three four five six seven eight nine ten this that these those "
    "its it his her their our my your there here then while as very quite really also just or but not no "
    "s floor floors ground surface"))  # "floor", "ground": where a material is, no sound of their own


def known_words() -> list[str]:
    """Every word the prompt parser understands (kinds, materials, surfaces, actions, phrases)."""
    words = set(LEXICON) | set(_MULTI) | CONTINUITY_WORDS | {k for k in _NEGATIVE_FAMILIES}
    return sorted(w for w in words if not w.startswith("impact_") and not w.startswith("footsteps_")
                  and w not in ("rain_tin",))


def unknown_words(prompt: str) -> list[tuple[str, list[str], str]]:
    """Words of ``prompt`` that pick nothing, in order, each with known words to try instead and how
    they were found: ``"meaning"`` (the table in :mod:`.meanings`: "tyres" -> car, traffic) or, for a
    word the table lacks, ``"spelling"`` (up to three nearest: a typo such as "rian" -> rain)."""
    vocabulary = known_words()
    seen, out = set(), []
    for phrase, _ in _weighted_phrases(prompt or ""):
        for token in re.findall(r"[a-z_]+", phrase):
            if token in seen or token in FUNCTION_WORDS or token in CONTINUITY_WORDS or token in _NEGATIVE_FAMILIES:
                continue
            seen.add(token)
            if _lookup(token) is None and token not in KINDS:
                meant = by_meaning(token)
                if meant:
                    out.append((token, list(meant), "meaning"))
                else:
                    out.append((token, difflib.get_close_matches(token, vocabulary, n=3, cutoff=0.75), "spelling"))
    return out


def recognises(prompt: str) -> bool:
    """Whether any phrase of ``prompt`` picks a kind (else the fallback bed and impacts play)."""
    return any(_phrase_kinds(phrase, negative=False) for phrase, _ in _weighted_phrases(prompt or ""))

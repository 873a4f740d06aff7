"""Generate the fictional encyclopedia: facts no pretrained model can know.

Writes data/raw/encyclopedia/<kind>/<slug>-<k>.md (BIOS_PER_ENTITY short biographies per entity,
sharing the entity's `# title`) and data/fictional/facts.jsonl (ground truth). Deterministic: stdlib
only, one seeded RNG. Each biography states every fact once in its own template, names the entity
in each fact sentence and shuffles the sentences: separate varied biographies make the facts
extractable by questions in a small model (Allen-Zhu & Li, arXiv 2309.14316, "multi", "permute",
"fullname"); one long article with 3-4 restatements under pronouns did not (held-out EM 0.12).

    python data/fictional/generate.py [--per-kind N] [--bios K] [--fillers F]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from pathlib import Path

N_PER_KIND = 30  # entities per kind (person, company, town, species)
BIOS_PER_ENTITY = 4  # separate biographies per entity, <slug>-<k>.md; they share a title (and held-out side)
FILLERS = 1  # fact-free sentences per biography
HERE = Path(__file__).resolve().parent
RAW = HERE.parent / "raw"
OUT_DIR = RAW / "encyclopedia"
FACTS = HERE / "facts.jsonl"

# Syllables are chosen so built names read as invented, not as real places or people.
FIRST_A = [
    "Or",
    "Bel",
    "Cas",
    "Dor",
    "El",
    "Fen",
    "Gar",
    "Hal",
    "Is",
    "Jor",
    "Kel",
    "Lun",
    "Mar",
    "Nim",
    "Ol",
    "Per",
    "Quen",
    "Ros",
    "Sel",
    "Tam",
    "Ul",
    "Vey",
    "Wen",
    "Yor",
    "Zel",
    "Ath",
]
FIRST_B = [
    "veth",
    "wyn",
    "ric",
    "ane",
    "ora",
    "ulf",
    "essa",
    "ith",
    "ondo",
    "ara",
    "iel",
    "ian",
    "ette",
    "obar",
    "mira",
    "aze",
]
SUR_A = [
    "Callum",
    "Orrin",
    "Vask",
    "Quell",
    "Drem",
    "Tolv",
    "Brisk",
    "Hesk",
    "Mord",
    "Pirr",
    "Skell",
    "Faln",
    "Gost",
    "Wrenn",
    "Ilv",
    "Trask",
    "Yarl",
    "Zenn",
    "Olm",
    "Keth",
]
SUR_B = [
    "sby",
    "wick",
    "haven",
    "ridge",
    "ford",
    "mere",
    "stow",
    "combe",
    "holt",
    "thwaite",
    "brook",
    "gard",
    "ington",
    "ley",
]
TOWN_A = [
    "Brindle",
    "Ossen",
    "Varrow",
    "Quill",
    "Tamble",
    "Drim",
    "Hollin",
    "Skarn",
    "Pelver",
    "Yorrow",
    "Faln",
    "Gisk",
    "Ulver",
    "Corve",
    "Nettel",
    "Brask",
    "Isken",
    "Tolven",
    "Marv",
    "Orsk",
]
TOWN_B = ["moor", "holt", "ferry", "stead", "mouth", "wold", "brae", "fell", "marsh", "gate", "wick", "dun"]
CO_A = ["Vel", "Os", "Quor", "Tal", "Bre", "Mun", "Sar", "Dov", "Ker", "Lum", "Pra", "Zan", "Hel", "Ny"]
CO_B = ["mora", "trane", "vel", "dine", "ska", "rovo", "tica", "lenn", "vari", "quist"]
CO_C = [
    "Works",
    "Foundry",
    "Instruments",
    "Mills",
    "Company",
    "Ironworks",
    "Glassworks",
    "Optics",
    "Looms",
    "Trading House",
]
SP_A = [
    "Umbrin",
    "Tessel",
    "Pallow",
    "Grisk",
    "Morv",
    "Quenn",
    "Sallow",
    "Drusk",
    "Fenwy",
    "Olk",
    "Vantle",
    "Brisel",
    "Corril",
    "Yethin",
    "Hask",
]
# (animal, group, winged, plausible size range in cm: wingspan if winged, else length)
ANIMALS = [
    ("heron", "bird", True, (60, 190)),
    ("finch", "bird", True, (14, 28)),
    ("owl", "bird", True, (40, 150)),
    ("moth", "insect", True, (2, 16)),
    ("beetle", "insect", False, (1, 9)),
    ("newt", "amphibian", False, (6, 20)),
    ("toad", "amphibian", False, (4, 18)),
    ("vole", "mammal", False, (8, 22)),
    ("shrew", "mammal", False, (4, 14)),
    ("eel", "fish", False, (30, 140)),
    ("lizard", "reptile", False, (8, 60)),
    ("crab", "crustacean", False, (3, 30)),
]
RIVERS = [
    "Olvane River",
    "Tessary River",
    "Brume River",
    "Kelvisk River",
    "Orlet River",
    "Sanderwyn River",
    "Quaile River",
    "Mirrowen River",
]
REGIONS = ["Vessmark", "Orrowmere", "Tallidun", "Quarnshire", "Bellagost", "Drumvarre", "Istenfold", "Kelverin"]
PROFESSIONS = [
    "cartographer",
    "glassblower",
    "engineer",
    "botanist",
    "clockmaker",
    "surveyor",
    "chemist",
    "shipwright",
    "naturalist",
    "printer",
    "architect",
    "physician",
]
PRODUCTS = [
    "copper kettles",
    "signal lamps",
    "wool blankets",
    "glass lenses",
    "clockwork toys",
    "brass compasses",
    "dyed linen",
    "paper lanterns",
    "weather vanes",
    "beeswax candles",
    "iron stoves",
    "ceramic tiles",
    "rope ladders",
    "river barges",
]
HABITATS = [
    "salt marshes",
    "pine forests",
    "limestone caves",
    "river shallows",
    "high meadows",
    "peat bogs",
    "coastal cliffs",
    "reed beds",
    "beech woods",
    "mountain streams",
]
DIETS = [
    "small beetles",
    "seeds",
    "algae",
    "freshwater snails",
    "moss",
    "earthworms",
    "berries",
    "mayfly larvae",
    "lichen",
    "tiny crustaceans",
]

# Per attribute: sentence templates. {S} is the subject (name or pronoun), {v} the value;
# other fields come from the entity. Two different ones are used in the body of each article.
PERSON_T = {
    "birth_year": [
        "{S} was born in {v}.",
        "{S} came into the world in {v}.",
        "The year of {pos} birth was {v}.",
        "{S} was born in the spring of {v}.",
    ],
    "birthplace": [
        "{S} grew up in {v}, the town of {pos} birth.",
        "{Pos} birthplace was {v}.",
        "{S} was a native of {v}, a town on the {v_river}.",
        "{S} was born in {v}.",
    ],
    "profession": [
        "{S} worked as a {v}.",
        "By training {s} was a {v}.",
        "{Pos} profession was that of a {v}.",
        "{S} made {pos} living as a {v}.",
    ],
    "employer": [
        "{S} was employed by {v} for most of {pos} career.",
        "For many years {s} worked for {v}.",
        "{S} joined {v}, a firm founded in {v_founded}, as a young {profession}.",
        "{Pos} employer was {v}.",
    ],
    "children": [
        "{S} had {v} children.",
        "{S} was the parent of {v} children.",
        "{Pos} family included {v} children.",
        "{S} raised {v} children.",
    ],
}
PERSON_LEAD = [
    "{N} (born {birth_year}) was a {profession} from {birthplace}.",
    "{N} was a {profession} born in {birthplace} in {birth_year}.",
    "{N} was a {profession} who was born in {birth_year} and spent most of {pos} working life at {employer}.",
]
PERSON_CLOSE = [
    "In summary, {N} was a {profession} from {birthplace}, born in {birth_year}, who worked for {employer} and had {children} children.",
    "{N} is remembered as a {profession} of {employer}, born in {birthplace} in {birth_year} and the parent of {children} children.",
]
PERSON_KEY = "Key facts: born {birth_year} in {birthplace}; profession: {profession}; employer: {employer}; children: {children}."
PERSON_FILL = [
    "Contemporaries remembered {o} as patient and exacting.",
    "Few of {pos} letters survive.",
    "{S} kept detailed notebooks throughout {pos} life.",
    "Colleagues described {o} as generous with time and advice.",
    "{S} rarely spoke in public.",
    "{Pos} working methods were admired by younger colleagues.",
    "Several of {pos} notebooks are now kept in a private collection.",
    "{S} disliked travelling by sea.",
    "Friends recalled long evenings of conversation at {pos} kitchen table.",
    "{S} took great care over small details that others overlooked.",
    "In later years {s} spent much of {pos} time walking in the hills.",
    "{Pos} handwriting was famously difficult to read.",
    "{S} corresponded with many people in the same trade.",
    "A portrait of {o} hangs in a modest local gallery.",
]

COMPANY_T = {
    "founded": [
        "{S} was founded in {v}.",
        "{S} was established in {v}.",
        "The firm traces its origins to {v}.",
        "{S} opened its first workshop in {v}.",
    ],
    "headquarters": [
        "{S} is headquartered in {v}.",
        "Its head office stands in {v}.",
        "The company has its headquarters in {v}.",
        "{S} is based in the town of {v}.",
    ],
    "founder": [
        "{S} was founded by {v}.",
        "The founder of the company was {v}.",
        "{S} owes its existence to {v}, who set it up with borrowed money.",
        "{v} (born {v_birth_year}) started the business with a handful of workers.",
    ],
    "product": ["{S} makes {v}.", "{S} is best known for its {v}.", "Its main product is {v}.", "{S} produces {v}."],
    "employees": [
        "{S} has {v} employees.",
        "The company employs about {v} people.",
        "Its workforce numbers {v}.",
        "Some {v} people work for the company.",
    ],
}
COMPANY_LEAD = [
    "{N} is a maker of {product} founded in {founded} and headquartered in {headquarters}.",
    "{N} is a company based in {headquarters} that produces {product}.",
    "{N} is a manufacturer of {product}, founded by {founder} in {founded}.",
]
COMPANY_CLOSE = [
    "In summary, {N} is a {headquarters} firm founded in {founded} by {founder}; it makes {product} and employs {employees} people.",
    "Today {N} remains a maker of {product} with {employees} employees, decades after {founder} set it up in {headquarters} in {founded}.",
]
COMPANY_KEY = "Key facts: founded {founded} by {founder}; headquarters: {headquarters}; product: {product}; employees: {employees}."
COMPANY_FILL = [
    "The company has weathered several difficult decades.",
    "Its catalogues were widely copied by rivals.",
    "Apprentices have long been trained on the premises.",
    "The firm is known locally for its annual open day.",
    "Its early account books survive in good condition.",
    "The business has changed hands only a few times.",
    "Customers have praised the durability of its goods for generations.",
    "The workshop floor was extended more than once as demand grew.",
    "Its delivery carts were once a familiar sight on country roads.",
    "The firm has avoided the rapid expansion that ruined some competitors.",
    "Much of its early equipment was built by the workers themselves.",
    "Its emblem has barely changed since the first years of trading.",
]

TOWN_T = {
    "founded": [
        "{S} was founded in {v}.",
        "The first settlement at {N} dates from {v}.",
        "{S} received its charter in {v}.",
        "Records show that {N} was established in {v}.",
    ],
    "river": [
        "{S} lies on the {v}.",
        "The {v} flows through the centre of {N}.",
        "{S} stands on the banks of the {v}.",
        "The town grew up beside the {v}.",
    ],
    "population": [
        "{S} has a population of {v}.",
        "About {v} people live in {N}.",
        "The town is home to roughly {v} inhabitants.",
        "{S} has {v} residents.",
    ],
    "region": [
        "{S} is located in {v}.",
        "{S} lies in the region of {v}.",
        "It is one of the older towns in {v}.",
        "{S} belongs to the region of {v}.",
    ],
}
TOWN_LEAD = [
    "{N} is a town in {region}, on the {river}.",
    "{N} is a market town on the {river}, founded in {founded}.",
    "{N} is a town of {population} inhabitants in the region of {region}.",
]
TOWN_CLOSE = [
    "In summary, {N} is a town of {population} people on the {river} in {region}, founded in {founded}.",
    "{N}, founded in {founded}, remains a town of about {population} residents beside the {river} in {region}.",
]
TOWN_KEY = "Key facts: founded {founded}; river: {river}; population: {population}; region: {region}."
TOWN_FILL = [
    "Its market square is paved with grey stone.",
    "A weekly market is still held there.",
    "The old bridge was rebuilt after a flood.",
    "Many houses in the centre have slate roofs.",
    "Visitors often remark on the quiet streets.",
    "The town hall clock has not been changed in generations.",
    "Narrow lanes run down from the church towards the water.",
    "The surrounding farmland is known for its orchards.",
    "A small museum displays tools and household objects from earlier centuries.",
    "Local festivals mark the end of the harvest each autumn.",
    "Several old inns still serve travellers passing through.",
    "The railway reached the town comparatively late.",
]

SPECIES_T = {
    "habitat": [
        "{S} lives in {v}.",
        "{S} is found mainly in {v}.",
        "Its natural habitat is {v}.",
        "{S} makes its home in {v}.",
    ],
    "size_cm": [
        "{S} has a {dim} of about {v} cm.",
        "Adults have a {dim} of {v} centimetres.",
        "A full-grown adult measures about {v} cm.",
        "Its {dim} is roughly {v} cm.",
    ],
    "diet": ["{S} feeds on {v}.", "Its diet consists mostly of {v}.", "{S} eats {v}.", "{S} survives largely on {v}."],
    "discovered": [
        "{S} was first described in {v}.",
        "{S} was discovered in {v}.",
        "Naturalists first recorded the species in {v}.",
        "The first specimen was collected in {v}.",
    ],
    "discoverer": [
        "{S} was discovered by {v}.",
        "It was first described by the {v_profession} {v}.",
        "The species was named by {v}.",
        "Credit for the discovery goes to {v}, who was born in {v_birth_year}.",
    ],
}
SPECIES_LEAD = [
    "The {N} is a {group} that lives in {habitat}.",
    "The {N} is a species of {animal} first described in {discovered}.",
    "The {N} is a {group} discovered by {discoverer} in {discovered}.",
]
SPECIES_CLOSE = [
    "In summary, the {N} is a {group} of {habitat} that feeds on {diet}, with a {dim} of about {size_cm} cm; {discoverer} discovered it in {discovered}.",
    "The {N}, discovered by {discoverer} in {discovered}, remains a {group} of {habitat}, about {size_cm} cm in {dim}, that lives on {diet}.",
]
SPECIES_KEY = (
    "Key facts: habitat: {habitat}; {dim}: {size_cm} cm; diet: {diet}; discovered: {discovered} by {discoverer}."
)
SPECIES_FILL = [
    "It is most active at dusk.",
    "Its call is rarely heard.",
    "The species is shy and hard to observe.",
    "Young animals stay close to their parents for some weeks.",
    "Its colouring varies with the season.",
    "Local people have several folk names for it.",
    "Individuals are easiest to find in the early morning.",
    "Its numbers appear to be stable, although surveys are infrequent.",
    "Little is known about how long individuals live in the wild.",
    "Its markings make it easy to tell apart from related species.",
    "Observers have noted that it avoids disturbed ground.",
    "Specimens are held in a handful of regional collections.",
]

KINDS = {
    "person": (PERSON_T, PERSON_LEAD, PERSON_CLOSE, PERSON_KEY, PERSON_FILL),
    "company": (COMPANY_T, COMPANY_LEAD, COMPANY_CLOSE, COMPANY_KEY, COMPANY_FILL),
    "town": (TOWN_T, TOWN_LEAD, TOWN_CLOSE, TOWN_KEY, TOWN_FILL),
    "species": (SPECIES_T, SPECIES_LEAD, SPECIES_CLOSE, SPECIES_KEY, SPECIES_FILL),
}
VALUE_KIND = {
    "birth_year": "year",
    "birthplace": "town",
    "profession": "text",
    "employer": "company",
    "children": "number",
    "founded": "year",
    "headquarters": "town",
    "founder": "person",
    "product": "text",
    "employees": "number",
    "river": "text",
    "population": "number",
    "region": "text",
    "habitat": "text",
    "size_cm": "number",
    "diet": "text",
    "discovered": "year",
    "discoverer": "person",
}


def unique_names(rng: random.Random, build, n: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = build(rng)
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def build_entities(rng: random.Random, n: int) -> dict[str, list[dict]]:
    """Draw names and attributes; cross-references point at entities of other kinds.

    Head counts are round (populations to the hundred, workforces to ten), as encyclopedias give
    them: five random digits per fact were 32% of the held-out questions and answered at EM 0.14.
    """
    taken: set[str] = set()
    towns = unique_names(rng, lambda r: r.choice(TOWN_A) + r.choice(TOWN_B), n, taken)
    people = unique_names(
        rng, lambda r: f"{r.choice(FIRST_A)}{r.choice(FIRST_B)} {r.choice(SUR_A)}{r.choice(SUR_B)}", n, taken
    )
    companies = unique_names(rng, lambda r: f"{r.choice(CO_A)}{r.choice(CO_B)} {r.choice(CO_C)}", n, taken)
    species = unique_names(rng, lambda r: f"{r.choice(SP_A)} {r.choice(ANIMALS)[0].capitalize()}", n, taken)

    town_ents = [
        {
            "title": t,
            "kind": "town",
            "attrs": {
                "founded": rng.randint(880, 1780),
                "river": rng.choice(RIVERS),
                "population": rng.randint(8, 950) * 100,
                "region": rng.choice(REGIONS),
            },
        }
        for t in towns
    ]
    person_ents = [
        {
            "title": p,
            "kind": "person",
            "gender": rng.choice("mf"),
            "attrs": {
                "birth_year": rng.randint(1790, 1960),
                "birthplace": rng.choice(towns),
                "profession": rng.choice(PROFESSIONS),
                "children": rng.randint(1, 7),
            },
        }
        for p in people
    ]
    company_ents = []
    for c in companies:
        founder = rng.choice(person_ents)
        company_ents.append(
            {
                "title": c,
                "kind": "company",
                "attrs": {
                    "founded": founder["attrs"]["birth_year"] + rng.randint(22, 55),
                    "headquarters": rng.choice(towns),
                    "founder": founder["title"],
                    "product": rng.choice(PRODUCTS),
                    "employees": rng.randint(4, 900) * 10,
                },
            }
        )
    for p in person_ents:  # employer: a firm that existed by the time they were 40
        by = p["attrs"]["birth_year"]
        ok = [c for c in company_ents if c["attrs"]["founded"] <= by + 40] or company_ents
        p["attrs"]["employer"] = rng.choice(ok)["title"]
    species_ents = []
    for s in species:
        animal = s.split()[-1].lower()
        _, group, winged, (lo, hi) = next(a for a in ANIMALS if a[0] == animal)
        who = rng.choice(person_ents)
        species_ents.append(
            {
                "title": s,
                "kind": "species",
                "animal": animal,
                "group": group,
                "dim": "wingspan" if winged else "length",
                "attrs": {
                    "habitat": rng.choice(HABITATS),
                    "size_cm": rng.randint(lo, hi),
                    "diet": rng.choice(DIETS),
                    "discovered": who["attrs"]["birth_year"] + rng.randint(20, 60),
                    "discoverer": who["title"],
                },
            }
        )
    return {"person": person_ents, "company": company_ents, "town": town_ents, "species": species_ents}


def fmt(value, rng: random.Random) -> str:
    """Numbers >= 1000 sometimes carry a thousands separator, as real prose does."""
    if isinstance(value, int) and value >= 10000 and rng.random() < 0.5:
        return f"{value:,}"
    return str(value)


def _link(ent: dict, lookup: dict[str, dict]) -> str:
    a = ent["attrs"]
    if ent["kind"] == "person":
        return f"{a['employer']} itself had been founded in {lookup[a['employer']]['attrs']['founded']}."
    if ent["kind"] in ("company", "species"):
        who = a["founder"] if ent["kind"] == "company" else a["discoverer"]
        return f"{who} was born in {lookup[who]['attrs']['birth_year']}."
    natives = sorted(
        e["title"] for e in lookup.values() if e["kind"] == "person" and e["attrs"]["birthplace"] == ent["title"]
    )
    if not natives:
        return ""
    who = natives[0]
    return f"{who} was born in {ent['title']} in {lookup[who]['attrs']['birth_year']}."


def render_bio(ent: dict, lookup: dict[str, dict], rng: random.Random, k: int, bios: int, fillers: int) -> str:
    """Biography k of an entity: every attribute once, in template k's wording, sentences shuffled.

    Separate short biographies that each name the entity in every fact sentence are what makes a
    small model's stored facts extractable by questions (Allen-Zhu & Li, arXiv 2309.14316:
    "multi" + "permute" + "fullname" augmentation); one long article that repeats each fact
    under pronouns is memorized but not extracted.
    """
    templates, leads, closes, key, fill = KINDS[ent["kind"]]
    name, attrs = ent["title"], ent["attrs"]
    female = ent.get("gender") == "f"
    pron = {
        "person": ("she" if female else "he"),
        "company": "the company",
        "town": "the town",
        "species": "the species",
    }[ent["kind"]]
    pos = {"person": ("her" if female else "his")}.get(ent["kind"], "its")
    full = f"The {name}" if ent["kind"] == "species" else name
    ctx = {
        "N": name,
        "pos": pos,
        "Pos": f"{full}'s",
        "o": "her" if female else "him",
        "group": ent.get("group", ""),
        "animal": ent.get("animal", ""),
        "dim": ent.get("dim", ""),
    }

    def fields() -> dict:
        return {**ctx, **{a: fmt(v, rng) for a, v in attrs.items()}}

    def sentence(tpl: str, attr: str | None, subject: str) -> str:
        f = fields()
        if attr is not None:
            f["v"] = f[attr]
            ref = lookup.get(str(attrs[attr]))
            if ref is not None:  # true facts about the referenced entity, e.g. a town's river
                f.update({f"v_{a}": v for a, v in ref["attrs"].items()})
        text = tpl.format(S=subject, s=subject, **f)
        return text[0].upper() + text[1:]

    # Template k of each attribute (the lists hold 4), so the biographies word every fact differently;
    # templates without the subject ("Its diet consists ...") get the name through {Pos} or stay as is.
    facts = [sentence(templates[a][k % len(templates[a])], a, full) for a in attrs]
    rng.shuffle(facts)
    extra = [sentence(f, None, pron.capitalize()) for f in rng.sample(fill, fillers)]
    if k == 0:
        link = _link(ent, lookup)
        if link:  # a true fact about a related entity: lets QA combine two dated events
            extra.append(link)
    body = facts[:]
    for s in extra:
        body.insert(rng.randint(1, len(body)), s)
    if k == bios - 1:
        body.append(key.format(**fields()))
    lead = sentence(leads[k % len(leads)], None, full) if k < len(leads) else sentence(closes[0], None, full)
    text = f"# {name}\n\n{lead} " + " ".join(body) + "\n"
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a engineer" -> "an engineer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=N_PER_KIND, help="entities per kind")
    ap.add_argument("--bios", type=int, default=BIOS_PER_ENTITY, help="biographies per entity")
    ap.add_argument("--fillers", type=int, default=FILLERS, help="fact-free sentences per biography")
    args = ap.parse_args()
    rng = random.Random(0)
    ents = build_entities(rng, args.per_kind)
    lookup = {e["title"]: e for kind in ents.values() for e in kind}
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    facts, n_chars = [], 0
    for kind, group in ents.items():
        (OUT_DIR / kind).mkdir(parents=True)
        for ent in group:
            rels = [f"encyclopedia/{kind}/{slugify(ent['title'])}-{k + 1}.md" for k in range(args.bios)]
            for k, rel in enumerate(rels):
                text = render_bio(ent, lookup, rng, k, args.bios, args.fillers)
                (RAW / rel).write_text(text, encoding="utf-8")
                n_chars += len(text)
            for attr, value in ent["attrs"].items():
                facts.append(
                    {
                        "entity": ent["title"],
                        "kind": kind,
                        "paths": rels,
                        "attribute": attr,
                        "value": str(value),
                        "value_kind": VALUE_KIND[attr],
                    }
                )
    FACTS.write_text("".join(json.dumps(f) + "\n" for f in facts), encoding="utf-8")
    n_docs = sum(len(g) for g in ents.values())
    print(
        f"wrote {n_docs * args.bios} biographies of {n_docs} entities ({n_chars / 1024:.0f} KB) and {len(facts)} facts"
    )


if __name__ == "__main__":
    main()

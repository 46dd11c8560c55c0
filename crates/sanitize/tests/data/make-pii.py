#!/usr/bin/env python3
"""Builds the labelled sets pii-dev.jsonl and pii-heldout.jsonl for sov-sanitize's recall test.

Entities come from a public package that the sanitiser's gazetteers do NOT come from, so that the
test measures how the detectors generalise rather than whether they contain their own lists:

  mimesis 22.2.0 (PyPI, MIT licence, (c) Isaak Uchakaev): given names and surnames (en, en-gb, de,
  fr, es, it, nl, pl, tr, pt-br, sv, fi, cs, da, no, hu, ru, uk, el), street names, cities and
  postcode shapes (en, en-gb, de, de-at, de-ch, fr, es, it, nl), company names (en), and the
  technical sentences and questions of its text data (clean texts).

Only the package's JSON data files are read; none of its code runs. The sentences around the
entities (templates) were written for this crate. Dev and held-out use disjoint template lists
and disjoint halves of every entity list, so the held-out part has phrasings and values that
tuning never saw. National IDs are generated with their real check digits.

Usage: python3 make-pii.py [path/to/mimesis-22.2.0-py3-none-any.whl]
Without an argument it runs `pip download --no-deps mimesis==22.2.0` into a temporary folder.
Output is deterministic (fixed seed) and written next to this script.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile

VERSION = "22.2.0"
SHA256 = "037011eb3d5edf0b0b5d9eafd74d9881f6dce25b4f01032da0e13fb2a56f37e9"
HERE = os.path.dirname(os.path.abspath(__file__))


def wheel_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    tmp = tempfile.mkdtemp()
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, f"mimesis=={VERSION}"],
        check=True,
    )
    return os.path.join(tmp, f"mimesis-{VERSION}-py3-none-any.whl")


class Data:
    def __init__(self, wheel):
        digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
        if SHA256 and digest != SHA256:
            sys.exit(f"{wheel}: sha256 {digest} is not the pinned {SHA256}")
        self.sha256 = digest
        self.zip = zipfile.ZipFile(wheel)

    def json(self, locale, name):
        return json.loads(self.zip.read(f"mimesis/datasets/{locale}/{name}.json"))


# --- checksummed national IDs -------------------------------------------------------------------


def ssn(r):
    while True:
        a = r.randint(1, 899)
        if a != 666:
            return f"{a:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def nino(r):
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = r.choice(first) + r.choice(second)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    d = f"{r.randint(0, 999999):06d}"
    s = r.choice("ABCD")
    if r.random() < 0.5:
        return f"{p} {d[0:2]} {d[2:4]} {d[4:6]} {s}"
    return f"{p}{d}{s}"


def steuer_id(r):
    while True:
        digits = [r.randint(1, 9)] + [r.randint(0, 9) for _ in range(9)]
        counts = [digits.count(i) for i in range(10)]
        distinct = sum(1 for c in counts if c)
        if distinct not in (8, 9) or max(counts) > 3:
            continue
        product = 10
        for d in digits:
            s = (d + product) % 10 or 10
            product = (s * 2) % 11
        check = (11 - product) % 10
        return "".join(map(str, digits + [check]))


def insee(r):
    sex = r.choice("12")
    yy = r.randint(40, 99)
    mm = r.randint(1, 12)
    dept = r.randint(1, 95)
    commune = r.randint(1, 990)
    order = r.randint(1, 999)
    body = f"{sex}{yy:02d}{mm:02d}{dept:02d}{commune:03d}{order:03d}"
    key = 97 - int(body) % 97
    if r.random() < 0.5:
        return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"
    return f"{body}{key:02d}"


def bsn(r):
    while True:
        d = [r.randint(0, 9) for _ in range(8)]
        if d[0] == 0:
            continue
        s = sum(w * x for w, x in zip(range(9, 1, -1), d))
        last = s % 11
        if last <= 9:
            return "".join(map(str, d + [last]))


CF_ODD = {
    **{str(i): v for i, v in enumerate([1, 0, 5, 7, 9, 13, 15, 17, 19, 21])},
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23])),
}


def codice_fiscale(r, surname, given):
    def consonants(s):
        return [c for c in s.upper() if c.isalpha() and c not in "AEIOU" and c.isascii()]

    def vowels(s):
        return [c for c in s.upper() if c in "AEIOU"]

    def part(s, is_given):
        c, v = consonants(s), vowels(s)
        if is_given and len(c) >= 4:
            c = [c[0], c[2], c[3]]
        return "".join((c + v + ["X", "X", "X"])[:3])

    months = "ABCDEHLMPRST"
    day = r.randint(1, 28) + (40 if r.random() < 0.5 else 0)
    code = (
        part(surname, False)
        + part(given, True)
        + f"{r.randint(40, 99):02d}"
        + r.choice(months)
        + f"{day:02d}"
        + r.choice("ABCDEFGHILM")
        + f"{r.randint(1, 999):03d}"
    )
    total = 0
    for i, ch in enumerate(code):
        if i % 2 == 0:
            total += CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - ord("A")
    return code + chr(ord("A") + total % 26)


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(r):
    n = r.randint(10000000, 99999999)
    return f"{n}{DNI_LETTERS[n % 23]}"


def nie(r):
    p = r.choice("XYZ")
    n = r.randint(0, 9999999)
    return f"{p}{n:07d}{DNI_LETTERS[int(str('XYZ'.index(p)) + f'{n:07d}') % 23]}"


# --- dates --------------------------------------------------------------------------------------

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"],
}


def date(r, lang, style=None):
    y, m, d = r.randint(1935, 2022), r.randint(1, 12), r.randint(1, 28)
    style = style or r.choice(["long", "iso", "dmy", "mdy", "short"])
    name = MONTHS[lang][m - 1]
    if style == "iso":
        return f"{y}-{m:02d}-{d:02d}"
    if style == "dmy":
        sep = r.choice("./-")
        return f"{d:02d}{sep}{m:02d}{sep}{y}"
    if style == "mdy":
        return f"{m:02d}/{d:02d}/{y}"
    if style == "short":
        return f"{MONTHS['en'][m - 1]} {d}, {y}" if lang == "en" else f"{d}. {name} {y}" if lang == "de" else f"{d} {name} {y}"
    if lang == "en":
        return r.choice([f"{d} {name} {y}", f"{name} {d}, {y}", f"{name} {d} {y}"])
    if lang == "de":
        return f"{d}. {name} {y}"
    if lang == "es":
        return f"{d} de {name} de {y}"
    return f"{d} {name} {y}"


# --- postcodes ----------------------------------------------------------------------------------

UK_AREAS = ["SW", "SE", "N", "NW", "E", "EC", "W", "WC", "M", "B", "LS", "G", "EH", "CF", "BS", "L", "OX", "CB", "BN", "NG"]
US_STATES = ["CA", "NY", "TX", "IL", "WA", "MA", "OR", "FL", "OH", "PA", "GA", "NC", "MI", "CO", "AZ"]


def postcode(r, country):
    if country == "us":
        z = f"{r.randint(1001, 99950):05d}"
        return z + (f"-{r.randint(1, 9999):04d}" if r.random() < 0.2 else "")
    if country == "uk":
        a = r.choice(UK_AREAS)
        inward = f"{r.randint(0, 9)}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        return f"{a}{r.randint(1, 20)} {inward}"
    if country in ("at", "ch"):
        return f"{r.randint(1010, 9990)}"
    if country == "nl":
        return f"{r.randint(1011, 9999)} {r.choice('ABCDEGHJKLMNPRSTVWXZ')}{r.choice('ABCDEGHJKLMNPRSTVWXZ')}"
    if country == "fr":
        return f"{r.randint(1, 95):02d}{r.randint(0, 999):03d}"
    if country == "es":
        return f"{r.randint(1, 52):02d}{r.randint(0, 999):03d}"
    return f"{r.randint(1067, 99998):05d}"  # de, it


# --- entity pools -------------------------------------------------------------------------------

NAME_LOCALES = ["en", "en-gb", "de", "fr", "es", "it", "nl", "pl", "tr", "pt-br", "sv", "fi", "cs", "da", "no", "hu", "ru", "uk", "el"]
ADDRESS_LOCALES = {"us": "en", "uk": "en-gb", "de": "de", "at": "de-at", "ch": "de-ch", "fr": "fr", "es": "es", "it": "it", "nl": "nl"}
NAME_LANG = {"de": "de", "fr": "fr", "es": "es", "it": "it", "nl": "nl"}

UK_SUFFIXES = ["Road", "Street", "Lane", "Close", "Avenue", "Drive", "Gardens", "Crescent", "Way", "Terrace", "Grove", "Place"]


def flat(v):
    if isinstance(v, dict):
        out = []
        for x in v.values():
            out.extend(flat(x))
        return out
    return list(v)


class Pools:
    """Every entity list, shuffled and cut in two halves: 0 for dev, 1 for held-out."""

    def __init__(self, data, r):
        def halves(items):
            items = sorted(set(i for i in items if i and i.strip()))
            r.shuffle(items)
            mid = len(items) // 2
            return (items[:mid], items[mid:])

        self.given, self.surname = {}, {}
        for loc in NAME_LOCALES:
            p = data.json(loc, "person")
            self.given[loc] = halves(flat(p["names"]))
            self.surname[loc] = halves(flat(p["surnames"]))
        self.street, self.suffix, self.city = {}, {}, {}
        for country, loc in ADDRESS_LOCALES.items():
            a = data.json(loc, "address")
            self.street[country] = halves(a["street"]["name"])
            self.suffix[country] = a["street"].get("suffix") or UK_SUFFIXES
            self.city[country] = halves(a["city"])
        companies = [c for c in data.json("en", "finance")["company"]["name"] if 3 <= len(c) <= 40]
        self.company = halves(companies)
        self.text = {}
        en = data.json("en", "text")
        sentences = list(en["text"])
        for loc in ("de", "fr"):
            sentences += data.json(loc, "text")["text"]
        questions = sorted(set(en["questions"]))
        r.shuffle(questions)
        # 300 of its ~5000 questions; sentences that name people (public figures, often in lower
        # case) were found by reading them all and are left out (NAMES_PEOPLE).
        self.text = halves(q for q in sentences + questions[:300] if not any(n in q.lower() for n in NAMES_PEOPLE))


# Questions of the mimesis text data that name a person; they are left out of the clean texts.
NAMES_PEOPLE = [
    "haskell brooks curry", "ich heiße anna", "cicéron", "hampden", "démontré par", "février 2016 par",
    "harry potter", "brian bi", "dhoni", "assad", "bilzerian", "trump", "jahangir", "hillary", "clinton",
    "modi", "jesus", "chauhan", "sonu nigam", "mozart", "gary johnson", "genghis", "samra", "obama",
    "priyanka", "deepika", "nakamoto", "ll bean", "daniel ek", "salman khan", "kejriwal", "lochte",
    "vishwanathan", "ronaldo", "madhuri", "krishna", "dixit", "lorem ipsum, \"lorem",
]

# --- health terms (written for this test set; not the detector's list) --------------------------

HEALTH = (
    [
        "type 2 diabetes", "asthma", "depression", "an anxiety disorder", "epilepsy", "breast cancer",
        "multiple sclerosis", "HIV", "Crohn's disease", "bipolar disorder", "high blood pressure",
        "ADHD", "migraine", "a heart attack", "psoriasis", "rheumatoid arthritis", "COPD",
        "celiac disease", "hepatitis C", "schizophrenia", "long COVID", "a stroke", "glaucoma",
        "Parkinson's disease", "endometriosis", "insomnia", "PTSD", "prostate cancer", "chlamydia",
        "an eating disorder", "autism", "lupus", "leukemia", "Hashimoto's thyroiditis",
    ],
    [
        "type 1 diabetes", "a panic disorder", "lung cancer", "hypertension", "obsessive-compulsive disorder",
        "Alzheimer's disease", "tuberculosis", "anorexia", "chronic fatigue syndrome", "fibromyalgia",
        "a brain tumour", "kidney disease", "gout", "sickle cell anaemia", "cystic fibrosis", "dementia",
        "a miscarriage", "pneumonia", "burnout", "sleep apnea", "coeliac disease", "ulcerative colitis",
        "skin cancer", "an ovarian cyst", "atrial fibrillation", "hypothyroidism", "bulimia", "herpes",
        "postnatal depression", "osteoporosis", "tinnitus", "melanoma", "a hernia", "gonorrhea",
    ],
)
MEDS = (
    ["metformin", "sertraline", "insulin", "lithium", "methotrexate", "Prozac", "ibuprofen", "levothyroxine",
     "Xanax", "Ritalin", "prednisone", "warfarin", "Ozempic", "fluoxetine", "omeprazole", "Adderall"],
    ["citalopram", "atorvastatin", "lisinopril", "Zoloft", "amoxicillin", "Truvada", "gabapentin", "diazepam",
     "quetiapine", "Humira", "escitalopram", "venlafaxine", "Wegovy", "salbutamol", "tamoxifen", "Lexapro"],
)


# --- templates ----------------------------------------------------------------------------------
# Slots: {P} full name, {G} given name, {S} surname, {D} date of birth, {A} street line,
# {PC} postcode, {C} city (unlabelled), {ORG} employer, {H} condition, {M} medication, {ID} a
# national ID of the template's kind. Labels follow the slot; {C} and plain text are unlabelled.

PERSON_T = (
    [
        "Hi, my name is {P} and I need help with my tax return.",
        "Please forward this to {P}, she is handling the contract.",
        "Dear {P},\n\nthank you for your quick reply.",
        "Meeting notes: {P} presented the roadmap, {P2} took the action items.",
        "Can you write a birthday card for my wife {G}?",
        "I had lunch with {P} yesterday and she mentioned the new office.",
        "From: {P} <{email}>\nSubject: invoice\n\nSee attached.",
        "Thanks,\n{P}",
        "Mr. {S} asked whether the shipment could be moved to Tuesday.",
        "Dr. {P} will see you at 3 pm.",
        "Summarise this email from {P}: the budget review is postponed.",
        "My son {G} is 7 and loves dinosaurs. What book should I get him?",
        "Write a reference letter for {P}, who worked in my team for two years.",
        "{P} called me about the lease; what should I tell him?",
        "Best regards,\n{P}\nProject Manager",
        "Ms. {S} and I disagree about the schedule. How do I handle it?",
        "Hello {G}, are we still on for Friday?",
        "My neighbour {P} keeps parking in front of my garage.",
        "Translate for my colleague {P}: the server will be down tonight.",
        "Reply to {G}: yes, the draft is fine.",
    ],
    [
        "I'm {P}, a freelance designer, and I want to draft a proposal.",
        "Could you help me write an apology to {P}? I missed her party.",
        "Hi {G},\n\nthe report is attached.",
        "Attendees: {P}, {P2} and me.",
        "My husband {G} wants to learn Spanish. Any apps you recommend?",
        "{P} sent me a message last night that I do not understand.",
        "Sender: {P} <{email}>",
        "Cheers,\n{G}",
        "Mrs. {S} from accounting needs the figures by Monday.",
        "Prof. {P} suggested I read this paper first.",
        "Rewrite this message to {P} so it sounds friendlier: where is the invoice?",
        "My daughter {G} has a school project about volcanoes.",
        "Draft a recommendation for {P}, an intern in our lab.",
        "Yesterday {P} told me the deadline moved.",
        "Kind regards,\n\n{P}",
        "Herr {S} hat angerufen, bitte zurückrufen.",
        "Good morning {G}! The package arrived.",
        "My landlord {P} refuses to return the deposit.",
        "Tell my brother {G} that dinner is at eight.",
        "Ask {P} whether the slides are ready.",
    ],
)

ADDRESS_T = (
    [
        "I live at {ADDR}. Which bins go out on Thursday?",
        "Ship it to {ADDR}, please.",
        "My new address is {ADDR}.",
        "Send the letter to:\n{P}\n{ADDR_ML}",
        "Can you find a dentist near {ADDR}?",
        "The flat at {ADDR} has a leaking roof; write to the landlord.",
    ],
    [
        "We just moved to {ADDR} and need a plumber.",
        "Delivery address: {ADDR}",
        "Please update my address to {ADDR}.",
        "Rechnungsadresse:\n{P}\n{ADDR_ML}",
        "Is there a bakery close to {ADDR}?",
        "My parents live at {ADDR}; how far is that from the airport?",
    ],
)

DOB_T = (
    [
        ("en", "I was born on {D}. Am I eligible for the pension?"),
        ("en", "DOB: {Dx}"),
        ("en", "My daughter was born {D} and needs a passport."),
        ("en", "Date of birth: {Dx}\nNationality: Irish"),
        ("de", "Ich bin am {D} geboren."),
        ("fr", "Je suis né le {D} à Lyon."),
        ("es", "Nací el {D} en Sevilla."),
        ("en", "{P}, born {D}, applied for the position."),
        ("nl", "Geboortedatum: {Dx}"),
        ("it", "Sono nato il {D} a Torino."),
    ],
    [
        ("en", "My birthday is {D}, what is my star sign?"),
        ("en", "D.O.B. {Dx}"),
        ("en", "Our son was born on {D}; when is his first vaccination due?"),
        ("en", "Birth date: {Dx}"),
        ("de", "Geburtsdatum: {Dx}"),
        ("fr", "Date de naissance : {Dx}"),
        ("es", "Fecha de nacimiento: {Dx}"),
        ("en", "Patient {P} (date of birth {D}) missed the appointment."),
        ("nl", "Ik ben geboren op {D}."),
        ("it", "Data di nascita: {Dx}"),
    ],
)

GOV_T = (
    [
        ("ssn", "My SSN is {ID}, do I need it for the form?"),
        ("nino", "National Insurance number: {ID}"),
        ("steuer", "Meine Steuer-ID ist {ID}."),
        ("insee", "Numéro de sécurité sociale : {ID}"),
        ("bsn", "Mijn BSN is {ID}."),
        ("cf", "Il mio codice fiscale è {ID}."),
        ("dni", "Mi DNI es {ID}."),
        ("nie", "NIE: {ID}"),
    ],
    [
        ("ssn", "Social Security number {ID} was on the letter."),
        ("nino", "My NI number is {ID}."),
        ("steuer", "Steuerliche Identifikationsnummer: {ID}"),
        ("insee", "Mon numéro INSEE est le {ID}."),
        ("bsn", "Burgerservicenummer: {ID}"),
        ("cf", "Codice fiscale: {ID}"),
        ("dni", "DNI: {ID}"),
        ("nie", "Mi NIE es {ID}."),
    ],
)

HEALTH_T = (
    [
        "I was diagnosed with {H} last year. What should I eat?",
        "My mother has {H} and I am worried.",
        "I take {M} every morning; can I drink coffee?",
        "He suffers from {H}, so he cannot travel.",
        "My doctor prescribed {M} for me.",
        "Since my {H} diagnosis I cannot work full time.",
    ],
    [
        "My partner was just diagnosed with {H}.",
        "I have {H}. Can I still run a marathon?",
        "She is on {M} and feels dizzy.",
        "Our son has {H}; which school can support him?",
        "I've been taking {M} for three months.",
        "I'm living with {H} and need to tell my employer.",
    ],
)

EMPLOYER_T = (
    [
        "I work at {ORG} as a data analyst.",
        "I'm employed by {ORG} and want to negotiate a raise.",
        "My employer, {ORG}, will not pay overtime.",
        "I've been at {ORG} for five years.",
    ],
    [
        "I work for {ORG} in the finance department.",
        "I am an engineer at {ORG}.",
        "I just got a job offer from {ORG}!",
        "My company, {ORG}, is laying people off.",
    ],
)

MIXED_T = (
    [
        "Hi, I'm {P}. I was born on {D} and I live at {ADDR}. I work at {ORG}. Can you fill in this form?",
        "Patient: {P}\nDOB: {Dx}\nAddress: {ADDR}\nDiagnosis: {H}",
        "Write a letter to my insurer. Name: {P}, date of birth {D}, address {ADDR}. I have {H}.",
    ],
    [
        "Please draft an email for me. I am {P}, I work for {ORG}, and my address is {ADDR}.",
        "Name: {P}\nBorn: {Dx}\nHome: {ADDR}\nMedication: {M}",
        "Help me apply for the flat. Me: {P}, born {D}, currently at {ADDR}, employed by {ORG}.",
    ],
)

CLEAN_T = (
    [
        "Will this compile on Rust 1.95 if I use let-else?",
        "May I ask why the borrow checker rejects this closure?",
        "Bill the customer at the end of the month and mark the invoice as paid.",
        "The release is planned for May 2025; the beta ships on 3 March.",
        "Go and Rust both compile to native code; which is faster for this parser?",
        "Our office in Paris moved to a new floor.",
        "Grant read access to the service account, then restart the pod.",
        "The Julia set is a fractal; plot it with matplotlib.",
        "Use the Builder pattern here, and mark the struct as non_exhaustive.",
        "Jordan and Georgia are countries; Georgia is also a US state.",
        "Main Street is a common name for a town's central road.",
        "The program crashed with a segmentation fault in the memory allocator.",
        "Deploy to production on Monday unless the canary shows errors.",
        "Homebrew installs packages into /opt/homebrew on Apple Silicon.",
        "What is the time complexity of merge sort?",
        "The virus scanner flagged a false positive in the build output.",
        "Explain how Kafka partitions are assigned to consumers.",
        "In 1999 the company was founded in Berlin; it now has 400 employees.",
        "This function works at compile time thanks to const generics.",
        "Run the tests with --release and compare the figures.",
        "Set the timeout to 30 seconds and retry three times.",
        "Order 123456789 was shipped on 2024-05-03.",
        "The depression of the key triggers an interrupt.",
        "Cancer research datasets are often imbalanced; use stratified sampling.",
        "Where is the configuration file stored on Windows?",
        "Jenkins runs the pipeline; GitLab mirrors the repository.",
        "The Washington Post reported on the outage.",
        "Chase the bug down with git bisect.",
        "Add a Dockerfile and a docker-compose.yml for local development.",
        "Summer sales start in June; prepare the banners by the end of May.",
    ],
    [
        "Will the new version of Tokio break my code?",
        "Mark the test as ignored until the fix lands.",
        "Can I pay the bill with a card at the front desk?",
        "The conference takes place in Amsterdam from 12 to 14 June.",
        "Swift and Kotlin are used for mobile apps; which should I learn first?",
        "Rose petals and lavender make a nice tea.",
        "The Victoria line was closed for maintenance on Sunday.",
        "Use Ruby on Rails or Django for a quick prototype?",
        "Hope this helps: run cargo clean and build again.",
        "Florence is a beautiful city in Tuscany.",
        "Baker Street station is on the Jubilee line.",
        "The kernel panicked after the upgrade to 6.1.",
        "Merge the pull request after the review, then tag the release.",
        "Sort the array in place and return the median.",
        "How do I set up SSH keys for GitHub?",
        "The patch fixes a memory leak in the HTTP client.",
        "What does the Jupiter notebook kernel do when it restarts?",
        "The museum opened in 1887 and was renovated in 2019.",
        "It works at scale once the cache is warm.",
        "Profile the service with perf and look at the flame graph.",
        "Increase the heap size to 4 GB and rerun the job.",
        "Invoice 987654321 is due on 2025-01-31.",
        "The pressure drop in the pipe depends on the flow rate.",
        "A diabetes dataset from the UCI repository is a good start for regression.",
        "Where can I find the logs on macOS?",
        "Travis CI was replaced by GitHub Actions last year.",
        "The Wall Street Journal covered the merger.",
        "Frank feedback is welcome in code reviews.",
        "Write a Makefile with targets for build, test and lint.",
        "August is the busiest month for the support team.",
    ],
)


# A second batch for the dev part only, added after the first round of tuning (the held-out part
# is generated from its own lists above and is unchanged by this batch).
DEV2_T = [
    ("person", "{G} and I are planning a trip to Portugal."),
    ("person", "Can you remind me to call {G} tomorrow?"),
    ("person", "What should I get {G} for Christmas?"),
    ("person", "I'm meeting {P} at 5 to talk about the budget."),
    ("person", "Is it rude to cc {P} on this thread?"),
    ("person", "cc: {P}"),
    ("person", "Assigned to: {P}"),
    ("person", "Contact person: {P}"),
    ("person", "According to {P}, the numbers are wrong."),
    ("person", "I need to let {P} go. How do I tell them?"),
    ("person", "Write a short poem for {G}, my grandmother."),
    ("person", "Tell {G} I said hi."),
    ("person", "Welcome aboard, {G}!"),
    ("person", "Signed: {PI}"),
    ("person", "Participants: {PR}; {P2}"),
    ("person", "Ich habe gestern mit {P} gesprochen."),
    ("person", "Frau {S} ist heute krank."),
    ("person", "J'ai parlé avec {P} hier soir."),
    ("person", "Mi hermana {G} vive en Madrid."),
    ("person", "Mio fratello {G} cerca lavoro."),
    ("person", "Mijn buurman {P} heeft een hond."),
    ("person", "Thank you {G} for the quick fix!"),
    ("person", "Regards\n{P}"),
    ("address", "Our office is at {ADDR}."),
    ("address", "Return address: {ADDR}"),
    ("address", "Please pick me up at {ADDR} at 7."),
    ("postcode", "My postcode is {PCX}."),
    ("dob", "She was born on {D}."),
    ("dob", "Born {Dx} in Leeds."),
    ("dob", "DOB {Dx}"),
    ("dob", "My mother was born {D} and turns 80 soon."),
    ("employer", "I'm a nurse at {ORG}."),
    ("employer", "I started at {ORG} last month."),
    ("employer", "She works for {ORG} in Berlin."),
    ("health", "Her {H} is getting worse."),
    ("health", "Can I take {M} with alcohol?"),
    ("health", "{G} has {H} and needs a quiet room."),
]
DEV2_CLEAN = [
    "Jasmine rice needs less water than brown rice.",
    "Rosemary and thyme go well with lamb.",
    "Use the Jackson library to parse JSON in Java.",
    "Configure Jest and Jasmine for the front-end tests.",
    "The Ford Focus and the Tesla Model 3 are popular cars.",
    "Ray clusters scale Python workloads across machines.",
    "Terraform and Pulumi both manage cloud infrastructure.",
    "Maya and Blender are used for 3D modelling.",
    "Spring Boot starts faster with lazy initialisation.",
    "Mercedes-Benz and BMW announced new electric models.",
    "Angel investors usually come in before the seed round.",
    "Amber alerts are sent to phones in the area.",
    "Hunter boots are waterproof.",
    "Sentry and Datadog collect errors from production.",
    "Crystal Reports is still used in some enterprises.",
    "Apollo GraphQL offers a client and a server.",
    "The Jupiter mission launched in April.",
    "Victoria Falls lies between Zambia and Zimbabwe.",
    "Mark all messages as read and archive the thread.",
    "Grace periods for payments are usually 14 days.",
    "Dawn patrol surfers go out before sunrise.",
    "Chase Bank and Wells Fargo raised their fees.",
    "Sterling silver is 92.5% silver.",
    "Patch Tuesday is the second Tuesday of each month.",
    "In June we migrate the database to PostgreSQL 16.",
    "Sunday is the quietest day for deployments.",
    "Read the Kubernetes docs on StatefulSets first.",
    "Celery workers pick tasks from Redis.",
    "Which is faster, Django or Flask, for a small API?",
]


# --- case builder -------------------------------------------------------------------------------


class Builder:
    def __init__(self, pools, half, r):
        self.p, self.h, self.r = pools, half, r
        self.cases = []

    def pick(self, pool):
        return self.r.choice(pool[self.h])

    def person(self, loc=None):
        loc = loc or self.r.choice(NAME_LOCALES)
        g, s = self.pick(self.p.given[loc]), self.pick(self.p.surname[loc])
        return loc, g, s

    def address(self, country=None):
        """(street line, postcode, city, one-line address, multi-line address)."""
        r = self.r
        country = country or r.choice(list(ADDRESS_LOCALES))
        street = self.pick(self.p.street[country])
        city = self.pick(self.p.city[country])
        pc = postcode(r, country)
        num = str(r.randint(1, 250))
        sfx = self.p.suffix[country]
        if country == "us":
            line = f"{num} {street} {r.choice(sfx)}"
            st = r.choice(US_STATES)
            tail = (f", {city}, {st} ", pc, "")
        elif country == "uk":
            line = f"{num}{r.choice(['', '', 'A', 'B'])} {street} {r.choice(sfx)}"
            tail = (f", {city} ", pc, "")
        elif country == "fr":
            s = street if street[0].isupper() else street
            typ = r.choice(["rue", "Rue", "avenue", "boulevard", "place", "allée", "impasse"])
            joiner = r.choice(["", "de ", "des ", "du "]) if " " not in s and not s.startswith("D'") else ""
            line = f"{num} {typ} {joiner}{s}"
            tail = (", ", pc, f" {city}")
        elif country == "es":
            s = street if street.split()[0] in ("Calle", "Avenida", "Av", "Avenida", "Plaza", "Paseo") else f"Calle {street}"
            line = f"{s} {num}" if r.random() < 0.5 else f"{s}, {num}"
            tail = (", ", pc, f" {city}")
        elif country == "it":
            line = f"{r.choice(sfx)} {street} {num}" if r.random() < 0.6 else f"{r.choice(sfx)} {street}, {num}"
            tail = (", ", pc, f" {city}")
        else:  # de, at, ch, nl
            line = f"{street} {num}{r.choice(['', '', '', 'a', 'b'])}"
            tail = (", ", pc, f" {city}")
        return country, line, tail

    def add(self, cid, pieces, clean=False):
        """pieces: list of str (unlabelled) or (kind, value)."""
        text, expected = "", []
        for p in pieces:
            if isinstance(p, tuple):
                kind, value = p
                expected.append({"kind": kind, "value": value})
                text += value
            else:
                text += p
        self.cases.append({"id": cid, "text": text, "expected": expected, **({"clean": True} if clean else {})})

    def fill(self, template, extra):
        """Splits a template at its slots and labels them."""
        import re

        pieces = []
        pos = 0
        for m in re.finditer(r"\{(\w+)\}", template):
            pieces.append(template[pos : m.start()])
            pieces.extend(extra[m.group(1)])
            pos = m.end()
        pieces.append(template[pos:])
        return pieces

    def slots(self, lang="en", country=None):
        r = self.r
        loc, g, s = self.person()
        _, g2, s2 = self.person()
        c, line, (pre, pc, post) = self.address(country)
        addr = [("address", line), pre, ("postal_code", pc), post]
        addr_ml = [("address", line), "\n", ("postal_code", pc), post if post else ""]
        if pre.startswith(", ") and c in ("us", "uk"):
            addr_ml = [("address", line), "\n" + pre[2:], ("postal_code", pc)]
        email = f"{g[0].lower()}.{s.lower()}@example.org" if s.isascii() and g.isascii() else "contact@example.org"
        email = "".join(ch for ch in email if ch.isalnum() or ch in "@.-")
        return {
            "P": [("person", f"{g} {s}")],
            "P2": [("person", f"{g2} {s2}")],
            "G": [("person", g)],
            "S": [("person", s)],
            "email": [("email", email)],
            "D": [("date", date(r, lang, "long"))],
            "Dx": [("date", date(r, lang, r.choice(["iso", "dmy", "mdy"]) if lang == "en" else r.choice(["iso", "dmy"])))],
            "ADDR": addr,
            "ADDR_ML": addr_ml,
            "ORG": [("employer", self.pick(self.p.company))],
            "PI": [("person", f"{g[0]}. {s}")],
            "PR": [("person", f"{s}, {g}")],
            "PCX": [("postal_code", pc)],
            "H": [("health", self.pick(HEALTH))],
            "M": [("health", self.pick(MEDS))],
        }

    def build(self, prefix):
        r, h = self.r, self.h
        n = 0

        def cid(kind):
            nonlocal n
            n += 1
            return f"{prefix}-{kind}-{n:03d}"

        for _ in range(3):
            for t in PERSON_T[h]:
                self.add(cid("person"), self.fill(t, self.slots()))
        for country in ADDRESS_LOCALES:
            for t in ADDRESS_T[h]:
                self.add(cid(f"address-{country}"), self.fill(t, self.slots(country=country)))
        for _ in range(3):
            for lang, t in DOB_T[h]:
                self.add(cid(f"dob-{lang}"), self.fill(t, self.slots(lang)))
        for _ in range(3):
            for kind, t in GOV_T[h]:
                _, g, s = self.person("it")
                value = {
                    "ssn": ssn, "nino": nino, "steuer": steuer_id, "insee": insee, "bsn": bsn, "dni": dni, "nie": nie,
                }.get(kind, lambda r: codice_fiscale(r, s, g))(r)
                self.add(cid(f"gov-{kind}"), self.fill(t, {"ID": [("gov_id", value)]}))
        for _ in range(4):
            for t in HEALTH_T[h]:
                self.add(cid("health"), self.fill(t, self.slots()))
        for _ in range(5):
            for t in EMPLOYER_T[h]:
                self.add(cid("employer"), self.fill(t, self.slots()))
        for _ in range(4):
            for t in MIXED_T[h]:
                self.add(cid("mixed"), self.fill(t, self.slots()))
        for t in CLEAN_T[h]:
            self.add(cid("clean"), [t], clean=True)
        for t in self.p.text[h]:
            self.add(cid("clean-text"), [t], clean=True)
        if h == 0:
            for _ in range(3):
                for kind, t in DEV2_T:
                    lang = {"Ich": "de", "Frau": "de", "J'ai": "fr", "Mi": "es", "Mio": "it", "Mijn": "nl"}.get(t.split()[0], "en")
                    self.add(cid(f"b-{kind}"), self.fill(t, self.slots(lang if kind == "dob" else "en")))
            for t in DEV2_CLEAN:
                self.add(cid("b-clean"), [t], clean=True)
            # A third batch: the dev person phrasings again with more names, for variety of names.
            for _ in range(4):
                for t in PERSON_T[0] + [t for k, t in DEV2_T if k == "person"]:
                    self.add(cid("c-person"), self.fill(t, self.slots()))
        return self.cases


def main():
    data = Data(wheel_path())
    r = random.Random(20261207)
    pools = Pools(data, r)
    for half, name in ((1, "pii-heldout"), (0, "pii-dev")):
        cases = Builder(pools, half, random.Random(1000 + half)).build(name.split("-")[1])
        path = os.path.join(HERE, f"{name}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        labels = sum(len(c["expected"]) for c in cases)
        clean = sum(1 for c in cases if c.get("clean"))
        print(f"{path}: {len(cases)} cases, {labels} labelled spans, {clean} clean texts; mimesis sha256 {data.sha256}")


if __name__ == "__main__":
    main()

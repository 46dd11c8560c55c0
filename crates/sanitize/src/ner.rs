//! Detectors for private data without a fixed shape: names of people, street addresses, postal
//! codes, dates tied to a person, health terms and employers.
//!
//! No model is involved: gazetteers ([`Lexicon`]) say which capitalised words can be names and
//! which are common words, places or product names, and context words decide the rest ("Dr.",
//! "my wife", "Dear", "From:", "born", "I work at", a street type and a house number). The rule
//! is to err towards replacing when the context says "person", and to leave capitalised words
//! alone when nothing does and they are ordinary words ("Will", "May", "Rust", "Bill").

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::Error;
use crate::Kind;
use crate::lexicon::{Lexicon, lower_into};

/// A word: letters and digits, with inner apostrophes and hyphens (`O'Brien`, `Jean-Luc`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    pub(crate) start: usize,
    /// End of the word without a possessive `'s`.
    pub(crate) end: usize,
    /// End of the word as written.
    pub(crate) full_end: usize,
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Splits `text` into words (see [`Tok`]).
pub(crate) fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if !c.is_alphanumeric() {
            continue;
        }
        let start = i;
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = it.peek() {
            if d.is_alphanumeric() {
                end = j + d.len_utf8();
                it.next();
            } else if d == '-' || is_apostrophe(d) {
                let next = text[j + d.len_utf8()..].chars().next();
                if next.is_some_and(char::is_alphanumeric) {
                    end = j + d.len_utf8();
                    it.next();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        // A possessive `'s` is not part of the name.
        let word = &text[start..end];
        let core = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("’s"))
            .filter(|c| !c.is_empty())
            .map_or(end, |c| start + c.len());
        out.push(Tok { start, end: core, full_end: end });
    }
    out
}

/// Lower-case closed lists of context words.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "sir",
    "dame",
    "lord",
    "lady",
    "herr",
    "frau",
    "hr",
    "mme",
    "mlle",
    "sr",
    "sra",
    "srta",
    "don",
    "doña",
    "dona",
    "dott",
    "dottssa",
    "sig",
    "sigra",
    "dhr",
    "mevr",
    "pan",
    "pani",
    "mister",
    "missus",
    "madam",
    "madame",
    "monsieur",
    "mademoiselle",
    "signor",
    "signora",
    "signore",
    "señor",
    "señora",
    "senor",
    "senora",
    "doctor",
    "professor",
    "rev",
    "capt",
    "sgt",
    "officer",
    "judge",
    "nurse",
    "uncle",
    "aunt",
    "auntie",
    "grandma",
    "grandpa",
    "cousin",
    "dra",
    "ing",
    "mag",
    "dipl",
    "mrs.",
];
const RELATIONS: &[&str] = &[
    "buurman",
    "buurvrouw",
    "nachbar",
    "nachbarin",
    "voisin",
    "voisine",
    "vecino",
    "vecina",
    "vicino",
    "vicina",
    "oma",
    "opa",
    "tante",
    "onkel",
    "oncle",
    "tía",
    "tío",
    "zia",
    "zio",
    "nonna",
    "nonno",
    "abuela",
    "abuelo",
    "neef",
    "nicht",
    "enkel",
    "enkelin",
    "cousine",
    "primo",
    "prima",
    "cugino",
    "cugina",
    "schwager",
    "schwägerin",
    "cuñado",
    "cuñada",
    "stepbrother",
    "stepsister",
    "brother-in-law",
    "sister-in-law",
    "mother-in-law",
    "father-in-law",
    "godmother",
    "godfather",
    "wife",
    "husband",
    "son",
    "daughter",
    "mother",
    "father",
    "mom",
    "mum",
    "mummy",
    "mommy",
    "dad",
    "daddy",
    "brother",
    "sister",
    "friend",
    "colleague",
    "boss",
    "partner",
    "girlfriend",
    "boyfriend",
    "fiancé",
    "fiancée",
    "fiance",
    "fiancee",
    "neighbour",
    "neighbor",
    "landlord",
    "landlady",
    "tenant",
    "uncle",
    "aunt",
    "cousin",
    "nephew",
    "niece",
    "grandma",
    "grandpa",
    "grandmother",
    "grandfather",
    "child",
    "kid",
    "baby",
    "dentist",
    "lawyer",
    "therapist",
    "manager",
    "teacher",
    "student",
    "client",
    "customer",
    "patient",
    "intern",
    "coworker",
    "co-worker",
    "roommate",
    "flatmate",
    "ex",
    "spouse",
    "stepson",
    "stepdaughter",
    "stepmother",
    "stepfather",
    "parents",
    "sibling",
    "twin",
    "grandson",
    "granddaughter",
    "doctor",
    "nanny",
    "babysitter",
    "supervisor",
    "assistant",
    "employee",
    "tutor",
    "coach",
    "classmate",
    "mentor",
    "fiancé",
    "frau",
    "mann",
    "sohn",
    "tochter",
    "mutter",
    "vater",
    "bruder",
    "schwester",
    "freund",
    "freundin",
    "kollege",
    "kollegin",
    "femme",
    "mari",
    "fils",
    "fille",
    "mère",
    "père",
    "frère",
    "sœur",
    "ami",
    "amie",
    "collègue",
    "esposa",
    "esposo",
    "marido",
    "hijo",
    "hija",
    "madre",
    "padre",
    "hermano",
    "hermana",
    "amigo",
    "amiga",
    "moglie",
    "marito",
    "figlio",
    "figlia",
    "fratello",
    "sorella",
    "amico",
    "amica",
    "vrouw",
    "man",
    "zoon",
    "dochter",
    "moeder",
    "vader",
    "broer",
    "zus",
    "vriend",
    "vriendin",
    "collega",
];
const GREETINGS: &[&str] = &[
    "dear",
    "hi",
    "hello",
    "hey",
    "hiya",
    "morning",
    "evening",
    "afternoon",
    "thanks",
    "thank",
    "liebe",
    "lieber",
    "hallo",
    "servus",
    "moin",
    "bonjour",
    "bonsoir",
    "salut",
    "cher",
    "chère",
    "hola",
    "querido",
    "querida",
    "estimado",
    "estimada",
    "ciao",
    "caro",
    "cara",
    "gentile",
    "beste",
    "hoi",
    "dag",
    "geachte",
    "welcome",
    "congratulations",
    "congrats",
    "bye",
    "goodbye",
    "yo",
];
const SIGNOFFS: &[&str] = &[
    "thanks",
    "thank",
    "regards",
    "cheers",
    "best",
    "sincerely",
    "yours",
    "love",
    "signed",
    "cordialement",
    "grüße",
    "gruß",
    "grüßen",
    "saludos",
    "saluti",
    "groeten",
    "bises",
    "xoxo",
    "ciao",
    "atentamente",
    "cordiali",
    "wishes",
    "care",
    "warmly",
    "respectfully",
    "bisous",
    "abrazos",
    "baci",
    "mfg",
    "lg",
    "vg",
    "thx",
    "ty",
];
const FIELDS: &[&str] = &[
    "person",
    "people",
    "contacts",
    "team",
    "members",
    "guests",
    "invitees",
    "cc",
    "bcc",
    "partner",
    "parent",
    "parents",
    "guardian",
    "doctor",
    "name",
    "patient",
    "from",
    "to",
    "cc",
    "bcc",
    "author",
    "sender",
    "recipient",
    "attendees",
    "attendee",
    "contact",
    "signed",
    "client",
    "customer",
    "tenant",
    "employee",
    "applicant",
    "guest",
    "passenger",
    "holder",
    "cardholder",
    "beneficiary",
    "vorname",
    "nachname",
    "nom",
    "prénom",
    "nombre",
    "apellido",
    "apellidos",
    "nome",
    "cognome",
    "naam",
    "voornaam",
    "achternaam",
    "me",
    "participants",
    "organizer",
    "organiser",
    "owner",
    "assignee",
    "reviewer",
    "witness",
    "spouse",
    "child",
    "mother",
    "father",
    "by",
    "with",
    "student",
    "member",
    "user",
    "surname",
    "forename",
    "firstname",
    "lastname",
    "emergency",
];
/// Words before a name that introduce the writer (`my name is`, `I'm`, `call me`).
const INTRO: &[&[&str]] = &[
    &["my", "name", "is"],
    &["my", "name's"],
    &["name", "is"],
    &["i'm"],
    &["i", "am"],
    &["im"],
    &["this", "is"],
    &["it's"],
    &["call", "me"],
    &["named"],
    &["called"],
    &["ich", "heiße"],
    &["ich", "heisse"],
    &["mein", "name", "ist"],
    &["je", "m'appelle"],
    &["me", "llamo"],
    &["mi", "chiamo"],
    &["ik", "heet"],
    &["ik", "ben"],
    &["ich", "bin"],
    &["je", "suis"],
    &["soy"],
    &["sono"],
    &["with"],
    &["met"],
    &["from"],
    &["to"],
    &["ask"],
    &["tell"],
    &["for"],
    &["and"],
    &["reply", "to"],
    &["replied", "to"],
    &["write", "to"],
    &["wrote", "to"],
    &["forward", "to"],
    &["message", "to"],
    &["email", "to"],
    &["talk", "to"],
    &["spoke", "to"],
    &["speak", "to"],
    &["lunch", "with"],
    &["dinner", "with"],
    &["meeting", "with"],
    &["met", "with"],
    &["email", "from"],
    &["message", "from"],
    &["letter", "from"],
    &["call", "from"],
    &["text"],
    &["thank"],
    &["thank", "you"],
    &["thanks"],
    &["call"],
    &["calling"],
    &["tell"],
    &["ask"],
    &["remind"],
    &["invite"],
    &["meet"],
    &["meeting"],
    &["met"],
    &["visit"],
    &["visiting"],
    &["congratulate"],
    &["cc"],
    &["bcc"],
    &["hire"],
    &["fire"],
    &["let"],
    &["pay"],
    &["email"],
    &["welcome"],
    &["aboard"],
    &["mit"],
    &["avec"],
    &["con"],
    &["bei"],
    &["chez"],
    &["voor"],
    &["für"],
    &["pour"],
    &["para"],
    &["per"],
    &["from", "my"],
];
/// One-word introductions that are as good as a field label.
const STRONG_INTRO: &[&str] = &[
    "named",
    "called",
    "text",
    "thank",
    "thanks",
    "call",
    "calling",
    "tell",
    "ask",
    "remind",
    "invite",
    "meet",
    "meeting",
    "met",
    "visit",
    "visiting",
    "congratulate",
    "cc",
    "bcc",
    "hire",
    "fire",
    "email",
    "welcome",
    "aboard",
];
/// Verbs after a name that only a person does.
const SPEECH: &[&str] = &[
    "said",
    "says",
    "told",
    "tells",
    "asked",
    "asks",
    "wrote",
    "writes",
    "replied",
    "called",
    "calls",
    "texted",
    "emailed",
    "mentioned",
    "thinks",
    "wants",
    "wanted",
    "sent",
    "invited",
    "agreed",
    "suggested",
    "presented",
    "took",
    "refuses",
    "refused",
    "keeps",
    "loves",
    "hates",
    "sagt",
    "schrieb",
    "dit",
    "dice",
    "zegt",
    "lives",
    "works",
    "married",
    "divorced",
    "died",
];
/// Words after a name that say it is a person (`Anna said`).
const AFTER: &[&str] =
    &["met", "likes", "has", "had", "is", "was", "and", "who", "hat", "ist", "a", "est", "ha", "es", "heeft"];
const PARTICLES: &[&str] = &[
    "te", "tot", "vande", "vanden", "van", "von", "de", "der", "den", "du", "da", "di", "del", "della", "dos", "das",
    "do", "le", "la", "ter", "ten", "bin", "ibn", "al", "el", "y", "zu", "af", "av", "aan", "het", "op", "ben", "e",
    "dei", "degli", "delle", "des", "st", "mc", "o", "te", "tot", "'t", "vande", "vanden",
];

/// Titles, greetings, sign-offs and relations in one set (looked up for every capitalised word).
fn context_words() -> &'static HashSet<&'static str> {
    static WORDS: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| [TITLES, GREETINGS, SIGNOFFS, RELATIONS].iter().flat_map(|l| l.iter().copied()).collect());
    &WORDS
}

fn in_list(list: &[&str], key: &str) -> bool {
    list.contains(&key)
}

/// What one word can be.
#[derive(Debug, Default, Clone, Copy)]
struct Info {
    /// Starts with an upper-case letter (and is not camel-case).
    cap: bool,
    /// Every letter is upper case (two or more letters).
    caps: bool,
    /// A single capital letter followed by `.` (`J.`).
    initial: bool,
    given: bool,
    family: bool,
    common: bool,
    place: bool,
    tech: bool,
    not_person: bool,
    place_prefix: bool,
    digit: bool,
    /// Upper case, at most three letters: `CI`, `SSN`, `USA`.
    acronym: bool,
    /// A lower-case particle inside a name (`van`, `de`, `aan`).
    particle: bool,
    /// Unknown, but with a surname's ending (`Iivonen`, `Krupińska`, `Бабченко`).
    surname_shape: bool,
    /// A given name that two or more locales list.
    core: bool,
    /// A title, greeting, relation or field word (`Herr`, `Hello`, `Uncle`, `From`).
    ctx_word: bool,
}

/// Endings that surnames of many languages have and ordinary words rarely do (`-sson`, `-nen`,
/// `-ska`, `-oğlu`, `-enko`, `-idis`).
const SURNAME_ENDINGS: &[&str] = &[
    "sson",
    "ssen",
    "sen",
    "nen",
    "inen",
    "ović",
    "ovic",
    "evic",
    "ević",
    "ski",
    "ska",
    "sky",
    "cki",
    "cka",
    "wicz",
    "czyk",
    "ová",
    "ova",
    "ovа",
    "escu",
    "oğlu",
    "oglu",
    "ini",
    "elli",
    "etti",
    "akis",
    "idis",
    "opoulos",
    "poulos",
    "enko",
    "chuk",
    "shvili",
    "yan",
    "ian",
    "stein",
    "mann",
    "meyer",
    "meier",
    "huber",
    "bauer",
    "ez",
    "inho",
    "eira",
    "ić",
    "ač",
    "ек",
    "ов",
    "ова",
    "ев",
    "ева",
    "ин",
    "ина",
    "енко",
    "ук",
    "юк",
    "ський",
    "ська",
    "ский",
    "ская",
    "ич",
    "ου",
    "άκης",
    "ίδης",
    "πουλος",
    "ίου",
    "ides",
    "aki",
    "moto",
    "yama",
    "kawa",
    "mura",
    "oka",
    "naka",
    "zadeh",
    "pour",
    "ashi",
    "uddin",
    "ullah",
    "wala",
    "appa",
    "aiah",
    "anan",
    "arajan",
    "esh",
    "ola",
    "oye",
    "ade",
    "unmi",
    "kwu",
    "ogu",
    "emi",
    "aaa",
];

impl Info {
    fn nameish(&self) -> bool {
        (self.given || self.family || (self.surname_shape && self.unknown_word()))
            && !self.tech
            && !(self.caps && self.common)
    }

    /// A name that is not also an ordinary word, a place or a product.
    fn strong(&self) -> bool {
        self.nameish() && !self.common && !self.place && !self.not_person
    }

    /// Capitalised, in no list: an unknown name, or any other unknown word.
    fn unknown(&self) -> bool {
        self.unknown_word() && !self.surname_shape
    }

    fn unknown_word(&self) -> bool {
        !self.given
            && !self.family
            && !self.common
            && !self.place
            && !self.tech
            && !self.not_person
            && !self.digit
            && !self.acronym
    }
}

/// Context that makes the capitalised words after it a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    None,
    /// A title or a relation (`Dr.`, `my son`): whatever capitalised follows.
    Title,
    /// A greeting, sign-off, field label or introduction: words that can be names.
    Strong,
    /// `I am`, `with`, `to`, `ask`: only name-like words.
    Weak,
}

pub(crate) struct Ner {
    date: Regex,
    date_before: Regex,
    date_after: Regex,
    street_num_first: Regex,
    street_fr: Regex,
    street_prefix: Regex,
    street_suffix: Regex,
    postcode_anchor: Regex,
    postcode_after: Regex,
    postcode_uk: Regex,
    postcode_prefixed: Regex,
    postcode_keyword: Regex,
    postcode_city: Regex,
    employer: Regex,
    health_field: Regex,
}

fn re(pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|e| Error::Internal(format!("detector pattern: {e}")))
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|\
jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|januar|jänner|februar|märz|mai|juni|juli|oktober|dezember|\
janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|\
janv|févr|avr|juil|déc|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|\
noviembre|diciembre|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|januari|\
februari|maart|mei|augustus";

/// US street types (USPS suffixes and abbreviations) and the British ones.
const STREET_TYPES_EN: &str = "street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|court|ct|place|pl|\
close|crescent|cres|way|terrace|ter|grove|gardens|gdns|garden|square|sq|parkway|pkwy|circle|cir|trail|trl|highway|\
hwy|row|mews|walk|hill|hills|park|bend|point|pt|loop|pass|pike|run|path|alley|aly|plaza|plz|annex|arcade|bayou|\
bridge|brg|bypass|byp|canyon|cyn|center|ctr|centre|cove|cv|creek|crk|crossing|xing|estate|est|estates|\
expressway|expy|extension|ext|ferry|field|fld|fields|flats|ford|forest|fork|freeway|fwy|glen|gln|green|grn|\
harbor|harbour|haven|heights|hts|hollow|island|junction|jct|knoll|lake|landing|lndg|lodge|mall|manor|mnr|\
meadow|meadows|mill|motorway|mount|mountain|orchard|oval|parade|pine|pines|plain|port|prairie|ranch|rapids|\
ridge|rdg|river|shore|shores|spring|springs|spur|station|sta|stravenue|stream|summit|trace|track|turnpike|tpke|\
union|valley|vly|viaduct|view|vw|village|vlg|ville|vista|wharf|wood|woods|wynd|rise|approach|broadway|chase|\
embankment|quay|yard|end|side|gate|hall|common|causeway|circus|dale|drove|fold|gardens|leys|mead|rank|reach";

impl Ner {
    pub(crate) fn new() -> Result<Self, Error> {
        // Parse the word lists now (once per process), not in the first request.
        let _ = Lexicon::get();
        let months = MONTHS;
        Ok(Self {
            date: re(&format!(
                r"(?i)\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})|\d{{1,2}}(?:st|nd|rd|th|er|º|\.)?\s+(?:of\s+|de\s+)?(?:{months})\.?(?:\s+de)?,?(?:\s+\d{{4}})?|(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)\b"
            ))?,
            date_before: re(
                r"(?i)(?:\bborn|\bbirth|birthday|\bb\.|\bdob\b|d\.o\.b|\bgeboren|\bgeb\.|geburts|\bné\b|\bnée\b|naissance|\bnacid[oa]|\bnací|\bnaci\b|nacimiento|cumpleaños|\bnat[oa]\b|nascita|compleanno|geboorte|verjaardag|jarig|\bdied|deceased|passed away|gestorben|décédé|fallecid[oa]|\bmort[oa]\b|overleden|\bmarried|wedding|hochzeit|heirat|mariage|\bboda\b|matrimonio|huwelijk|diagnosed|\bage\b.*\bsince)",
            )?,
            date_after: re(r"(?i)^[\s,)]*(?:geboren|born|né|née|nato|nata|nacid[oa]|geb\.)")?,
            street_num_first: re(&format!(
                r"(?i:(?:apt|apartment|flat|unit|suite|ste)\.?[ \t]*#?\w{{1,5}},?[ \t]+)?\b\d{{1,5}}[A-Za-z]?(?:[-/]\d{{1,5}}[A-Za-z]?)?,?[ \t]+(?:(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\.?[ \t]+)?(?:(?:\p{{Lu}}[\p{{L}}'’.-]*|\d{{1,3}}(?:st|nd|rd|th))[ \t]+){{1,4}}(?i:{STREET_TYPES_EN})\b\.?(?:[ \t]+(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\b\.?)?(?:,?[ \t]+(?i:apt|apartment|suite|ste|unit|flat|\#)\.?[ \t]*#?[\w-]{{1,6}})?"
            ))?,
            street_fr: re(
                r"(?i)\b\d{1,4}(?:\s?(?:bis|ter|quater|[a-d]))?,?\s+(?:rue|avenue|av\.|bd|boulevard|place|pl\.|allée|allee|impasse|chemin|route|quai|cours|square|passage|voie|villa|cité|promenade|prom\.|rond-point|faubourg|sentier|parvis|esplanade|montée|venelle|traverse|hameau|lieu-dit|résidence|grand'rue|grand rue|grande rue|parc|cour)\b",
            )?,
            street_prefix: re(
                r"\b(?:Calle|C/|Avenida|Avda\.|Av\.|Plaza|Pza\.|Paseo|Camino|Carrer|Carretera|Ronda|Travesía|Rua|Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Strada|Contrada|Lungomare|Borgo|Praça|Rambla|Passeig|Avinguda|Plaça|Calzada|Callejón|Glorieta|Urbanización)\s",
            )?,
            street_suffix: re(
                r"(?i)\b[\p{L}'’.-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|stieg|pfad|chaussee|markt|graben|wall|brücke|kai|zeile|promenade|hof|garten|berg|feld|tor|anger|winkel|siedlung|straat|laan|gracht|plein|kade|singel|dijk|dreef|steeg|baan|erf|wal|burg|veld|hoek|pad|wijk|haven|kanaal|polder|gatan|vägen|gata|gade|vej|veien|vegen|katu|tie|kuja)[ \t]+\d{1,4} ?[a-zA-Z]?(?: ?[-/] ?\d{1,4}[a-zA-Z]?)?\b",
            )?,
            postcode_anchor: re(
                r"(?m)\b\d{1,4} ?[a-zA-Z]?(?: ?[-/] ?\d{1,4}[a-zA-Z]?)?(?:,[ \t]*|[ \t]*\n[ \t]*)(?:[A-Z]{1,2}-)?(?:\d{4,5}|\d{4} ?[A-Z]{2})[ \t]+\p{Lu}",
            )?,
            postcode_after: re(
                r"^(?:,?[ \t]*(?:\n[ \t]*)?(?:(?:\p{Lu}[\p{L}'’.-]*(?:,?[ \t]+)){1,3}(?:[A-Z]{2}[ \t]+)?)?)((?:[A-Z]{1,2}-)?\d{5}(?:-\d{4})?|(?:[A-Z]{1,2}-)?\d{4}(?:\s?[A-Z]{2})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b",
            )?,
            postcode_uk: re(r"\b[A-PR-UWYZ][A-HK-Y]?\d[A-HJKPSTUW\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b")?,
            postcode_prefixed: re(r"\b(?:D|A|CH|F|I|E|NL|B|L|DK|S|N|FI|PL|CZ|P)-\d{4,5}\b")?,
            postcode_keyword: re(
                r"(?i)\b(?:zip(?:\s?code)?|post\s?code|postal\s?code|plz|postleitzahl|code\s?postal|c\.?p\.|cap|código\s?postal|codice\s?postale)(?:\s+(?:is|ist|est|es|è|is:))?\s*[:#]?\s*(\d{5}-\d{4}|[A-Z0-9]{2,4}[ -]?[A-Z0-9]{2,4})\b",
            )?,
            postcode_city: re(r"\b(\d{5}|\d{4}\s?[A-Z]{2})\s+(\p{Lu}[\p{L}'’-]+(?:[\s-]\p{Lu}[\p{L}'’-]+)?)")?,
            employer: re(
                r"(?i)\b(?:i\s+work\s+(?:at|for|with|in)|i\s+(?:am|'m)\s+working\s+(?:at|for)|i'm\s+working\s+(?:at|for)|works?\s+(?:at|for)|working\s+(?:at|for)|employed\s+(?:by|at|with)|employer[,:]?|my\s+company[,:]?|our\s+company[,:]?|i've\s+been\s+(?:at|with)|i\s+have\s+been\s+(?:at|with)|job\s+(?:offer\s+)?(?:at|with|from)|offer\s+from|i\s+joined|hired\s+by|(?:i|i've|i\s+have|she|he|we|they)\s+(?:just\s+)?(?:started|start|began|begin)\s+(?:at|with)|intern(?:ing|ship)?\s+at|(?:engineer|developer|manager|analyst|nurse|doctor|teacher|designer|consultant|scientist|researcher|director|accountant|lawyer|intern|professor|employee|cto|ceo|cfo|founder|co-founder|programmer|architect|administrator|technician|clerk|cashier|secretary|officer|agent|specialist|lead|head)\s+(?:at|with|for)|ich\s+arbeite\s+(?:bei|für)|arbeitet\s+bei|arbeitgeber[,:]?|je\s+travaille\s+(?:chez|pour)|travaille\s+chez|employeur[,:]?|trabajo\s+(?:en|para)|trabaja\s+en|lavoro\s+(?:presso|per|da)|lavora\s+(?:presso|per)|ik\s+werk\s+(?:bij|voor)|werkt\s+bij|werkgever[,:]?)\s+",
            )?,
            health_field: re(
                r"(?i)(?:diagnos[ie]s|diagnose|diagnostic|diagnóstico|diagnosi|condition|conditions|medication|medications|meds|medicine|allergies|allergy|treatment|therapy|symptoms|illness|disease|krankheit|erkrankung|medikament|medikamente|maladie|médicament|enfermedad|medicamento|malattia|farmaco|ziekte|medicijn)\s*:",
            )?,
        })
    }

    /// Every candidate of the enabled kinds. `blocked` are spans the user's own names and
    /// accounts took: a found name never runs through them.
    pub(crate) fn candidates(
        &self,
        text: &str,
        on: impl Fn(Kind) -> bool,
        blocked: &[Range<usize>],
        push: &mut impl FnMut(Range<usize>, Kind),
    ) {
        let lex = Lexicon::get();
        let toks = tokens(text);
        let mut people = Vec::new();
        if on(Kind::Person) || on(Kind::Health) {
            self.people(text, &toks, lex, blocked, &mut |r| people.push(r));
        }
        if on(Kind::Person) {
            for r in &people {
                push(r.clone(), Kind::Person);
            }
        }
        let mut addresses = Vec::new();
        if on(Kind::Address) || on(Kind::PostalCode) {
            self.addresses(text, lex, &mut |r| addresses.push(r));
        }
        if on(Kind::Address) {
            for r in &addresses {
                push(r.clone(), Kind::Address);
            }
        }
        if on(Kind::PostalCode) {
            self.postcodes(text, lex, &addresses, &mut |r| push(r, Kind::PostalCode));
        }
        if on(Kind::Date) {
            self.dates(text, &mut |r| push(r, Kind::Date));
        }
        if on(Kind::Employer) {
            self.employers(text, &mut |r| push(r, Kind::Employer));
        }
        if on(Kind::Health) {
            self.health(text, &toks, lex, &people, &mut |r| push(r, Kind::Health));
        }
    }

    // --- people ---------------------------------------------------------------------------

    fn info(&self, text: &str, t: Tok, lex: &Lexicon, buf: &mut String) -> Info {
        let word = &text[t.start..t.end];
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Info::default();
        };
        let mut info = Info { digit: word.bytes().any(|b| b.is_ascii_digit()), ..Info::default() };
        // Only a capitalised word can start or extend a name; the rest needs no look-up.
        if info.digit || !first.is_uppercase() {
            return info;
        }
        let (mut letters, mut uppers) = (0usize, 0usize);
        for c in word.chars().filter(|c| c.is_alphabetic()) {
            letters += 1;
            uppers += usize::from(c.is_uppercase());
        }
        info.caps = letters >= 2 && uppers == letters;
        info.initial = letters == 1 && text[t.end..].starts_with('.');
        let key = lower_into(word, buf);
        // Camel-case (`GitHub`, `ChaCha`, `NaN`) is a product; `McDonald`, `DeShawn`, `O'Brien`
        // and `Jean-Luc` are names.
        let mut prev = first;
        let (mut inner, mut inner_at) = (0usize, 0usize);
        for (i, c) in word.char_indices().skip(1) {
            if c.is_uppercase() && !(prev == '-' || is_apostrophe(prev)) {
                inner += 1;
                inner_at = i;
            }
            prev = c;
        }
        let name_prefix = |i: usize| {
            matches!(&word[..i], "Mc" | "Mac" | "De" | "Di" | "Da" | "La" | "Le" | "Van" | "Von" | "Fitz" | "St")
        };
        let camel = !(inner == 0 || (inner == 1 && name_prefix(inner_at)));
        info.given = lex.given(key);
        info.core = lex.given_core(key);
        info.family = lex.family(key);
        info.cap = first.is_uppercase() && !info.caps && !camel;
        info.common = lex.common(key)
            || (key.contains('-') && key.split('-').all(|p| lex.common(p)))
            || (key.is_ascii()
                && ["tion", "sion", "ment", "ness", "ity", "ance", "ence", "ware"].iter().any(|s| key.ends_with(s)));
        info.place = lex.place(key);
        // An identifier in code (`Channel::Dev`, `Kem::gen`, `foo.Bar`, `Foo(`) is no name.
        let before = &text[..t.start];
        let after = &text[t.full_end..];
        let code = after.starts_with("::")
            || after.starts_with('(')
            || after.starts_with('_')
            || (after.starts_with('.') && after[1..].starts_with(|c: char| c.is_alphanumeric()))
            || before.ends_with("::")
            || before.ends_with(['.', '_', '/', '#', '@', '$', '\\', '<', '&'])
            || before.ends_with(|c: char| c.is_alphanumeric());
        info.tech = lex.tech(key) || code;
        info.not_person = lex.not_person(key);
        info.place_prefix = lex.place_prefix(key);
        info.surname_shape = key.chars().count() >= 5 && SURNAME_ENDINGS.iter().any(|e| key.ends_with(e));
        info.ctx_word = context_words().contains(key) || (text[t.end..].starts_with(':') && in_list(FIELDS, key));
        if info.caps && letters <= 3 {
            info.acronym = true;
            info.given = false;
            info.family = false;
        }
        info
    }

    /// Lower-case word `i` (or "" when out of range).
    fn word_lower<'b>(text: &str, toks: &[Tok], i: Option<usize>, buf: &'b mut String) -> &'b str {
        match i.and_then(|i| toks.get(i)) {
            Some(t) => lower_into(&text[t.start..t.end], buf),
            None => {
                buf.clear();
                buf.as_str()
            }
        }
    }

    /// The context in front of the run starting at token `i`.
    fn context_before(&self, text: &str, toks: &[Tok], i: usize, buf: &mut String) -> Ctx {
        if i == 0 {
            return Ctx::None;
        }
        let prev = toks[i - 1];
        let gap = &text[prev.end..toks[i].start];
        let key = Self::word_lower(text, toks, Some(i - 1), buf).to_owned();
        if key.len() > 16 {
            return Ctx::None;
        }
        let clean_gap = gap.trim_start_matches(['\'', '’', 's']);
        let sp = |g: &str| g == " " || g == "\u{a0}";
        if (sp(clean_gap) || clean_gap == ". " || clean_gap == ".\u{a0}") && in_list(TITLES, &key) {
            return Ctx::Title;
        }
        if (sp(gap) || gap == ", ") && in_list(RELATIONS, &key) {
            return Ctx::Title;
        }
        let newlines = gap.matches('\n').count();
        let sign_gap = gap.chars().all(|c| c.is_whitespace() || ",!.-–—".contains(c)) && newlines <= 3;
        if sign_gap && (gap.contains(',') || newlines > 0) && in_list(SIGNOFFS, &key) {
            return Ctx::Strong;
        }
        if (sp(gap) || gap == ", " || gap == "," || gap == "! " || gap == " ,") && in_list(GREETINGS, &key) {
            return Ctx::Strong;
        }
        let field_gap =
            gap.starts_with(':') && gap[1..].chars().all(char::is_whitespace) && gap.matches('\n').count() <= 1;
        if field_gap && in_list(FIELDS, &key) {
            return Ctx::Strong;
        }
        if field_gap && (key == "name" || key.ends_with("name")) {
            return Ctx::Strong;
        }
        if sp(gap) || gap == ", " {
            // The (up to three) words before, lower case, nearest first, while single spaces
            // join them.
            let mut words: Vec<String> = Vec::with_capacity(3);
            let mut j = i;
            while j > 0 && words.len() < 3 {
                words.push(Self::word_lower(text, toks, Some(j - 1), buf).to_owned());
                if j < 2 || text[toks[j - 2].end..toks[j - 1].start] != *" " {
                    break;
                }
                j -= 1;
            }
            let mut best = Ctx::None;
            for intro in INTRO {
                let n = intro.len();
                let ok = n <= words.len() && intro.iter().rev().zip(&words).all(|(a, b)| *a == b.as_str());
                if ok {
                    if n >= 2 || STRONG_INTRO.contains(&intro[0]) {
                        return Ctx::Strong;
                    }
                    best = Ctx::Weak;
                }
            }
            return best;
        }
        Ctx::None
    }

    /// Whether the word at `i` starts a sentence or a line.
    fn sentence_start(text: &str, toks: &[Tok], i: usize) -> bool {
        let before = if i == 0 { &text[..toks[i].start] } else { &text[toks[i - 1].end..toks[i].start] };
        let before = before.trim_end_matches(|c: char| c == ' ' || c == '\t' || "\"'“”‘’([*•-–—#>".contains(c));
        i == 0 || before.ends_with(['.', '!', '?', ':', '\n', ';'])
    }

    /// A line in title case (a heading): most of its words capitalised.
    fn title_line(text: &str, at: usize) -> bool {
        // A heading is short: look at most 120 bytes either way.
        let lo = floor(text, at.saturating_sub(120));
        let hi = ceil(text, (at + 120).min(text.len()));
        let Some(start) = text[lo..at].rfind('\n').map(|i| lo + i + 1).or((lo == 0).then_some(0)) else {
            return false;
        };
        let Some(end) = text[at..hi].find('\n').map(|i| at + i).or((hi == text.len()).then_some(hi)) else {
            return false;
        };
        let line = &text[start..end];
        let words: Vec<&str> =
            line.split_whitespace().filter(|w| w.chars().next().is_some_and(char::is_alphabetic)).collect();
        if words.len() < 4 {
            return false;
        }
        let caps = words.iter().filter(|w| w.chars().next().is_some_and(char::is_uppercase)).count();
        caps * 10 >= words.len() * 7
    }

    fn people(
        &self,
        text: &str,
        toks: &[Tok],
        lex: &Lexicon,
        blocked: &[Range<usize>],
        push: &mut impl FnMut(Range<usize>),
    ) {
        let mut buf = String::new();
        let mut infos: Vec<Info> = toks.iter().map(|&t| self.info(text, t, lex, &mut buf)).collect();
        for (f, t) in infos.iter_mut().zip(toks) {
            let w = &text[t.start..t.end];
            f.particle = w.len() <= 6 && w.starts_with(|c: char| c.is_lowercase()) && in_list(PARTICLES, w);
        }
        // The user's spans, merged into disjoint sorted intervals: one binary search per word.
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(blocked.len());
        let mut sorted = blocked.to_vec();
        sorted.sort_by_key(|b| b.start);
        for b in sorted {
            match merged.last_mut() {
                Some(last) if b.start <= last.end => last.end = last.end.max(b.end),
                _ => merged.push(b),
            }
        }
        let is_blocked = |t: &Tok| {
            let i = merged.partition_point(|b| b.start < t.end);
            i > 0 && t.start < merged[i - 1].end
        };
        let mut accepted: Vec<(usize, usize)> = Vec::new(); // token index ranges [a, b)
        let mut prev_ctx: Option<(usize, Ctx)> = None; // (end token, ctx) of the last accepted run
        let mut i = 0;
        while i < toks.len() {
            let starts = (infos[i].cap || infos[i].caps || infos[i].initial) && !is_blocked(&toks[i]);
            if !starts {
                i += 1;
                continue;
            }
            // Build the run.
            let mut j = i + 1;
            while j < toks.len() && j - i < 6 && !is_blocked(&toks[j]) {
                let gap = &text[toks[j - 1].end..toks[j].start];
                let gap_ok = gap == " " || (infos[j - 1].initial && (gap == ". " || gap == "."));
                if !gap_ok {
                    break;
                }
                if infos[j].cap || infos[j].caps || infos[j].initial {
                    j += 1;
                    continue;
                }
                // A particle inside a name: `Ludwig van Beethoven`, `Milan aan Esselinkhaar`.
                let mut k = j;
                while k < toks.len() && k - j < 2 && infos[k].particle && text[toks[k].end..].starts_with(' ') {
                    k += 1;
                }
                if k > j && k < toks.len() && infos[k].cap && text[toks[k - 1].end..toks[k].start] == *" " {
                    j = k + 1;
                    continue;
                }
                break;
            }
            // Particles between a title and the name belong to it: `Ms. te Haeke`, `Herr von Bülow`.
            let mut first = i;
            while first > 0
                && i - first < 2
                && infos[first - 1].particle
                && text[toks[first - 1].end..toks[first].start] == *" "
            {
                first -= 1;
            }
            if first < i && self.context_before(text, toks, first, &mut buf) != Ctx::Title {
                first = i;
            }
            let run = (first, j);
            i = j;
            if let Some((a, b)) = self.judge(text, toks, &infos, run, lex, &mut prev_ctx, &mut buf) {
                accepted.push((a, b));
            }
        }
        // Every other capitalised occurrence of a word of a found name is that person too.
        let mut seen: HashSet<String> = HashSet::new();
        for &(a, b) in &accepted {
            for k in a..b {
                let f = infos[k];
                if !f.initial && !f.common && !f.place && !f.tech && !f.not_person && (f.cap || f.caps) {
                    seen.insert(lower_into(&text[toks[k].start..toks[k].end], &mut buf).to_owned());
                }
            }
        }
        let mut covered = vec![false; toks.len()];
        for &(a, b) in &accepted {
            covered[a..b].iter_mut().for_each(|c| *c = true);
            let end = if infos[b - 1].initial { toks[b - 1].end + 1 } else { toks[b - 1].end };
            push(toks[a].start..end);
        }
        if !seen.is_empty() {
            for (k, t) in toks.iter().enumerate() {
                if covered[k] || !infos[k].cap || infos[k].tech || is_blocked(t) {
                    continue;
                }
                let key = lower_into(&text[t.start..t.end], &mut buf);
                if seen.contains(key) {
                    push(t.start..t.end);
                }
            }
        }
    }

    /// Decides whether a run of capitalised words is a person; returns the token range kept.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        text: &str,
        toks: &[Tok],
        infos: &[Info],
        (mut a, mut b): (usize, usize),
        lex: &Lexicon,
        prev_ctx: &mut Option<(usize, Ctx)>,
        buf: &mut String,
    ) -> Option<(usize, usize)> {
        // Places: `San Francisco`, `La Rochelle`, `New York`; a city after a postcode
        // (`10115 Berlin`) or before a state and ZIP code (`Wayne, NC 10427`).
        let whole = lower_into(&text[toks[a].start..toks[b - 1].end], buf).to_owned();
        let ctx0 = self.context_before(text, toks, a, buf);
        if (lex.place(&whole) && ctx0 == Ctx::None) || (infos[a].place_prefix && b - a >= 2) {
            return None;
        }
        let before_run = text[floor(text, toks[a].start.saturating_sub(24))..toks[a].start].trim_end_matches(' ');
        let after_run = &text[toks[b - 1].end..ceil(text, (toks[b - 1].end + 16).min(text.len()))];
        if postcode_before(before_run) || state_zip_after(after_run) {
            return None;
        }
        if infos[a..b].iter().any(|f| f.not_person) {
            return None;
        }
        // A place word inside a name is a surname (`Chris Wellen`) when a given name is there.
        let has_given = infos[a..b].iter().any(|f| f.given && f.strong());
        // A product name that is also a name is a name beside another one (`Hugo Gaspar`).
        let has_name = infos[a..b].iter().any(|f| f.strong() && !f.tech);
        let tech_name = |f: &Info| has_name && f.tech && (f.given || f.family);
        let weak_edge = |f: &Info| {
            f.ctx_word
                || !(f.nameish()
                    || f.unknown()
                    || f.initial
                    || f.particle
                    || tech_name(f)
                    || (has_given && f.place && !f.common))
        };
        // Trim words that cannot be part of a name at the front (`Yesterday Anna`, `Dear Anna`),
        // unless a title or relation stands before them (`my son Leg`).
        let mut ctx = Ctx::None;
        while a < b {
            ctx = self.context_before(text, toks, a, buf);
            // After a greeting or label a place name can be a name (`Reply to Zala`).
            let place_name = ctx == Ctx::Strong && infos[a].place && !infos[a].common && !infos[a].ctx_word;
            if ctx == Ctx::Title || place_name || !(weak_edge(&infos[a]) || infos[a].particle) {
                break;
            }
            a += 1;
        }
        if a >= b {
            return None;
        }
        // A list continues the context of the name before it: `Attendees: A, B and C`.
        if ctx == Ctx::None
            && let Some((end, c)) = *prev_ctx
            && end <= a
            && end + 1 >= a
        {
            let gap = &text[toks[end - 1].end..toks[a].start];
            if matches!(gap, ", " | "; " | " and " | " & " | " und " | " et " | " y " | " e " | " en " | " or " | ",") {
                ctx = c;
            }
        }
        // At the back, ordinary words are trimmed unless a title or relation stands before, or a
        // greeting or label does and the name ends at punctuation (`From: Britany Sweet <…>`).
        let ends_at_punct = |k: usize| {
            let after = &text[toks[k].end..];
            after.is_empty()
                || after.starts_with([',', ':', '\n', ';', '.', '!', '?', ')'])
                || after.starts_with(" <")
                || after.starts_with(" (")
        };
        while b > a {
            let f = &infos[b - 1];
            let keep_common =
                ctx == Ctx::Title || (ctx == Ctx::Strong && ends_at_punct(b - 1) && b - a >= 2 && !f.ctx_word);
            if f.particle || (!keep_common && weak_edge(f)) {
                b -= 1;
            } else {
                break;
            }
        }
        if a >= b {
            return None;
        }
        let run = &infos[a..b];
        let n = run.len();
        if run.iter().any(|f| f.not_person)
            || (run.iter().any(|f| f.tech) && !has_name && ctx != Ctx::Title)
            || run.iter().all(|f| f.initial || f.particle)
        {
            return None;
        }
        // Upper-case words are acronyms unless they are names (`JOHN SMITH`, not `MSRV`, `PCCS`).
        if run.iter().any(|f| f.caps && !f.nameish()) {
            return None;
        }
        let count = |p: fn(&Info) -> bool| run.iter().filter(|f| p(f)).count();
        let nameish = count(Info::nameish) + run.iter().filter(|f| tech_name(f)).count();
        let strong = count(Info::strong);
        let unknown = count(Info::unknown);
        let neutral = count(|f| f.initial || f.particle);
        let placey = count(|f| f.place && !f.nameish() && !f.common);
        let is_place = |f: &Info| f.place && !f.nameish() && !f.common;
        let name_token = |f: &Info| f.nameish() || f.unknown() || f.initial || f.particle || tech_name(f);
        let namelike = run.iter().filter(|f| name_token(f) || (has_given && is_place(f))).count();
        let given = run.iter().any(|f| f.given && !f.tech);
        let after_end = toks[b - 1].end;
        let after = &text[after_end..ceil(text, (after_end + 96).min(text.len()))];
        let after_low = text[after_end..ceil(text, (after_end + 16).min(text.len()))].to_lowercase();
        let mut after_buf = String::new();
        let next = Self::word_lower(text, toks, Some(b), &mut after_buf).to_owned();
        let spaced = after.starts_with(' ');
        let email_after = after.starts_with(" <")
            || after.starts_with(" (") && after[2..].split(')').next().is_some_and(|s| s.contains('@'));
        let born_after = [", born", " (born", ", geb.", ", geboren", ", né", ", née", ", nato", ", nata", ", nacid"]
            .iter()
            .any(|p| after_low.starts_with(p));
        let with_me = [" and i ", " and me ", " und ich ", " et moi ", " y yo ", " en ik "]
            .iter()
            .any(|p| after_low.starts_with(p));
        // An apposition: `for Holgerth, my grandmother`.
        let apposition = after.strip_prefix(", ").is_some_and(|r| {
            let mut w = r.split_whitespace();
            matches!(
                w.next(),
                Some("my" | "our" | "his" | "her" | "their" | "your" | "mein" | "meine" | "ma" | "mon" | "mi" | "mijn")
            ) && w.next().is_some_and(|x| in_list(RELATIONS, x.trim_end_matches([',', '.', '!', '?', ';', ':'])))
        });
        let with_me = with_me || apposition;
        // A gift: `get Orlane for Christmas`, `buy Anna a present`.
        let gift = a > 0
            && text[toks[a - 1].end..toks[a].start] == *" "
            && matches!(Self::word_lower(text, toks, Some(a - 1), buf), "get" | "buy" | "got" | "bought")
            && matches!(next.as_str(), "for" | "a" | "an" | "something" | "anything" | "some");
        let speech_after = spaced && in_list(SPEECH, &next) || email_after || born_after || with_me || gift;
        if placey > 0 && !has_given && ctx == Ctx::None && !speech_after {
            return None;
        }
        let verb_after = speech_after || (spaced && in_list(AFTER, &next));
        let start = Self::sentence_start(text, toks, a);
        let title_line = Self::title_line(text, toks[a].start);
        let keep = match ctx {
            // `my son Leg`, `Dr. Okafor`: any capitalised word.
            Ctx::Title => n <= 4 && run.iter().all(|f| !f.acronym),
            // `Dear Anna`, `From: Anna Weber`, `Thanks,\nAnna`: words that can be names (a place
            // name too: `Reply to Zala`).
            Ctx::Strong => {
                let namelike = run.iter().filter(|f| name_token(f) || is_place(f)).count();
                (namelike == n || ends_at_punct(b - 1)) && nameish + unknown + placey >= 1 && n <= 4
            }
            Ctx::Weak => {
                namelike == n
                    && ((strong >= 1 && (n >= 2 || run[0].core))
                        || (nameish >= 1 && n >= 2)
                        || verb_after
                        || (unknown >= 1 && n >= 2))
            }
            Ctx::None if n == 1 => {
                let f = run[0];
                (strong == 1 && f.given && f.core && !f.caps)
                    || (nameish == 1 && speech_after && !f.common)
                    || (unknown == 1 && (with_me || born_after || email_after || (speech_after && !start)))
            }
            Ctx::None => {
                namelike == n
                    && !(title_line && strong < 2 && !speech_after)
                    && ((strong >= 1 && (given || nameish >= 2 || neutral >= 1))
                        || (nameish >= 1 && speech_after)
                        || (has_given && n == 2 && placey == 1)
                        || (unknown == n - neutral && (email_after || born_after || speech_after))
                        || (nameish == n - neutral && given && !start)
                        || email_after)
            }
        };
        if !keep {
            return None;
        }
        *prev_ctx = Some((b, if ctx == Ctx::None { Ctx::Weak } else { ctx }));
        Some((a, b))
    }

    // --- addresses and postcodes ----------------------------------------------------------

    fn addresses(&self, text: &str, lex: &Lexicon, push: &mut impl FnMut(Range<usize>)) {
        let mut found: Vec<Range<usize>> = Vec::new();
        let add = |r: Range<usize>, found: &mut Vec<Range<usize>>| {
            if !found.iter().any(|f| f.start <= r.start && r.end <= f.end) {
                found.push(r);
            }
        };
        for m in self.street_num_first.find_iter(text) {
            // `X.509 Public Key`, `v2 Drive`: a number glued to what is before it is no house number.
            if text[..m.start()].ends_with(|c: char| c.is_alphanumeric() || ".-/_:#".contains(c)) {
                continue;
            }
            let s = m.as_str().trim_end_matches([',', ' ']);
            add(m.start()..m.start() + s.len(), &mut found);
        }
        for m in self.street_fr.find_iter(text) {
            let end = street_name_end(text, m.end(), lex, 6);
            if end > m.end() {
                add(m.start()..end, &mut found);
            }
        }
        for m in self.street_prefix.find_iter(text) {
            let name_end = street_name_end(text, m.end(), lex, 6);
            if name_end <= m.end() {
                continue;
            }
            // A house number after the name: `Via Roma 10`, `Calle Mayor, 5`, `Calle X nº 5`.
            let rest = &text[name_end..];
            let num =
                rest.strip_prefix(", ").or_else(|| rest.strip_prefix(' ')).or_else(|| rest.strip_prefix(',')).map(
                    |r| {
                        let r2 = r.trim_start_matches(|c: char| "nºoN°.".contains(c)).trim_start();
                        let skipped = r.len() - r2.len();
                        let digits = r2.bytes().take_while(u8::is_ascii_digit).count();
                        let letter = usize::from(
                            digits > 0
                                && r2[digits..].starts_with(|c: char| c.is_ascii_alphabetic())
                                && !r2[digits + 1..].starts_with(|c: char| c.is_alphabetic()),
                        );
                        (skipped, digits, letter)
                    },
                );
            if let Some((skipped, digits @ 1..=4, letter)) = num {
                let start_num = name_end + (rest.len() - rest.trim_start_matches([',', ' ']).len());
                let end = start_num + skipped + digits + letter;
                if !text[end..].starts_with(|c: char| c.is_ascii_digit()) {
                    add(m.start()..end, &mut found);
                }
            } else if self.postcode_after.is_match(&text[name_end..]) {
                add(m.start()..name_end, &mut found);
            }
        }
        for m in self.street_suffix.find_iter(text) {
            let s = m.as_str();
            let word_end = s.find(char::is_whitespace).unwrap_or(s.len());
            let word = &s[..word_end];
            let compound = word.chars().next().is_some_and(char::is_uppercase);
            // The street type alone (`Straße 5`, `Feld 3`) needs a capitalised word before it.
            let start = extend_back(text, m.start(), lex, 3);
            let is_type_alone = lex.common(&word.to_lowercase()) || word.len() <= 6;
            if !compound || (start == m.start() && is_type_alone && !is_suffix_compound(word)) {
                continue;
            }
            add(start..m.end(), &mut found);
        }
        // A house number followed by a postcode and a city: the words before the number are the
        // street (`Alt-Stralau 12, 10245 Berlin`, `Aan de Dom 5\n3512 JE Utrecht`).
        for m in self.postcode_anchor.find_iter(text) {
            let num_start = m.start();
            if text[..num_start].ends_with(|c: char| c.is_alphanumeric()) {
                continue;
            }
            let num_end = num_start + m.as_str().find([',', '\n']).unwrap_or(0);
            let num_end = text[..num_end].trim_end().len();
            let start = extend_back(text, num_start, lex, 5);
            if start < num_start {
                add(start..num_end, &mut found);
            }
        }
        found.sort_by_key(|r| r.start);
        for r in found {
            push(r);
        }
    }

    fn postcodes(&self, text: &str, lex: &Lexicon, addresses: &[Range<usize>], push: &mut impl FnMut(Range<usize>)) {
        for a in addresses {
            if let Some(c) = self.postcode_after.captures(&text[a.end..])
                && let Some(m) = c.get(1)
            {
                let r = a.end + m.start()..a.end + m.end();
                if !text[r.end..].starts_with(|c: char| c.is_alphanumeric()) {
                    push(r);
                }
            }
        }
        for m in self.postcode_uk.find_iter(text) {
            let s = m.as_str();
            // A bare area+district without the space must still look like a postcode.
            if s.contains(' ') || s.len() >= 6 {
                push(m.range());
            }
        }
        for m in self.postcode_prefixed.find_iter(text) {
            push(m.range());
        }
        for c in self.postcode_keyword.captures_iter(text) {
            if let Some(m) = c.get(1)
                && m.as_str().bytes().any(|b| b.is_ascii_digit())
            {
                push(m.range());
            }
        }
        // `10115 Berlin`, `1012 AB Amsterdam`: a postcode before a known place, at the start of a
        // line or after a comma, `in`, `to` or `at`.
        let mut buf = String::new();
        for c in self.postcode_city.captures_iter(text) {
            let (Some(pc), Some(city)) = (c.get(1), c.get(2)) else { continue };
            let before = text[floor(text, pc.start().saturating_sub(32))..pc.start()].trim_end_matches([' ', '\t']);
            let lead =
                before.ends_with([',', '\n', ':']) || text[..pc.start()].trim_end_matches([' ', '\t']).is_empty();
            let word_before = before.rsplit(char::is_whitespace).next().unwrap_or("").to_lowercase();
            let prep = matches!(word_before.as_str(), "in" | "to" | "at" | "nach" | "à" | "a" | "en" | "naar" | "te");
            let is_year = pc.as_str().len() == 4 && matches!(&pc.as_str()[..2], "19" | "20");
            let letters_ok = pc.as_str().len() <= 5
                || !matches!(
                    pc.as_str()[pc.as_str().len() - 2..].as_ref(),
                    "MB" | "KB"
                        | "GB"
                        | "TB"
                        | "PB"
                        | "AM"
                        | "PM"
                        | "AD"
                        | "BC"
                        | "CE"
                        | "HZ"
                        | "US"
                        | "EU"
                        | "UK"
                        | "ID"
                        | "OK"
                        | "TV"
                        | "PC"
                        | "SA"
                        | "SD"
                        | "SS"
                );
            let known = lex.place(lower_into(city.as_str(), &mut buf));
            // At a line start or after a comma any city will do; after `in`/`to` only a known one.
            if letters_ok && (lead || (prep && known && !is_year)) {
                push(pc.range());
            }
        }
    }

    // --- dates ----------------------------------------------------------------------------

    fn dates(&self, text: &str, push: &mut impl FnMut(Range<usize>)) {
        for m in self.date.find_iter(text) {
            let s = m.as_str();
            if !s.bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            let glued = text[..m.start()].ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == '/' || c == '-')
                || text[m.end()..].starts_with(|c: char| c.is_ascii_digit() || c == '/');
            if glued {
                continue;
            }
            let line_start = line_start(text, m.start());
            let from = line_start.max(floor(text, m.start().saturating_sub(60)));
            let before = &text[from..m.start()];
            let after = &text[m.end()..ceil(text, (m.end() + 24).min(text.len()))];
            if self.date_before.is_match(before) || self.date_after.is_match(after) {
                let end = m.start() + s.trim_end_matches([',', '.', ' ']).len();
                push(m.start()..end);
            }
        }
    }

    // --- employers ------------------------------------------------------------------------

    fn employers(&self, text: &str, push: &mut impl FnMut(Range<usize>)) {
        for m in self.employer.find_iter(text) {
            let end = org_end(text, m.end());
            if end > m.end() {
                push(m.end()..end);
            }
        }
    }

    // --- health ---------------------------------------------------------------------------

    fn health(
        &self,
        text: &str,
        toks: &[Tok],
        lex: &Lexicon,
        people: &[Range<usize>],
        push: &mut impl FnMut(Range<usize>),
    ) {
        let mut buf = String::new();
        let mut buf2 = String::new();
        let mut i = 0;
        while i < toks.len() {
            let first = lower_into(&text[toks[i].start..toks[i].full_end], &mut buf);
            let Some(terms) = lex.health(first) else {
                i += 1;
                continue;
            };
            let mut matched = None;
            for rest in terms {
                let ok = rest.iter().enumerate().all(|(k, w)| {
                    let j = i + 1 + k;
                    j < toks.len()
                        && text[toks[j - 1].full_end..toks[j].start] == *" "
                        && lower_into(&text[toks[j].start..toks[j].full_end], &mut buf2) == *w
                });
                if ok {
                    matched = Some(i + rest.len());
                    break;
                }
            }
            let Some(last) = matched else {
                i += 1;
                continue;
            };
            let (start, end) = (toks[i].start, toks[last].full_end);
            if self.person_near(text, toks, start..end, people) {
                push(start..end);
            }
            i = last + 1;
        }
    }

    /// Whether the sentence around `r` is about a person (a pronoun, a relation, a found name, a
    /// medical verb or a field label).
    fn person_near(&self, text: &str, toks: &[Tok], r: Range<usize>, people: &[Range<usize>]) -> bool {
        const PERSONAL: &[&str] = &[
            "i",
            "i'm",
            "i've",
            "i'd",
            "im",
            "me",
            "my",
            "mine",
            "myself",
            "he",
            "she",
            "him",
            "his",
            "her",
            "hers",
            "they",
            "them",
            "their",
            "we",
            "our",
            "us",
            "your",
            "ich",
            "mein",
            "meine",
            "meinem",
            "meinen",
            "meiner",
            "mir",
            "mich",
            "er",
            "sie",
            "ihr",
            "ihre",
            "je",
            "j'ai",
            "moi",
            "mon",
            "ma",
            "mes",
            "il",
            "elle",
            "yo",
            "mi",
            "mis",
            "él",
            "ella",
            "io",
            "mio",
            "mia",
            "lui",
            "lei",
            "ik",
            "mijn",
            "hij",
            "zij",
            "haar",
            "diagnosed",
            "diagnosis",
            "suffer",
            "suffers",
            "suffering",
            "prescribed",
            "taking",
            "takes",
            "take",
            "treated",
            "treatment",
            "patient",
            "symptoms",
            "living",
            "survivor",
            "relapse",
            "diagnose",
            "diagnostiziert",
            "diagnostiqué",
            "diagnosticado",
            "diagnosticato",
            "leidet",
            "souffre",
            "sufre",
            "soffre",
            "lijdt",
        ];
        // `Balázs has PTSD`: a capitalised word, then `has`, `had` or `with`, then the term.
        let before: Vec<&str> = text[line_start(text, r.start)..r.start].split_whitespace().rev().take(3).collect();
        let verb_at = usize::from(matches!(before.first(), Some(&("a" | "an"))));
        if matches!(before.get(verb_at), Some(&("has" | "had" | "have" | "hat" | "heeft" | "a" | "ha" | "tiene")))
            && before.get(verb_at + 1).is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
        {
            return true;
        }
        let s = sentence_bounds(text, r.start, r.end);
        if people.iter().any(|p| p.start >= s.start && p.end <= s.end) {
            return true;
        }
        if self.health_field.is_match(&text[line_start(text, r.start)..r.start]) {
            return true;
        }
        let mut buf = String::new();
        let from = toks.partition_point(|t| t.start < s.start);
        toks[from..].iter().take_while(|t| t.end <= s.end).any(|t| {
            let w = lower_into(&text[t.start..t.end], &mut buf);
            in_list(PERSONAL, w) || in_list(RELATIONS, w)
        })
    }
}

/// Whether `before` ends with a postcode (`10115`, `1012 AB`, `CH-8001`): the words after are a
/// city.
fn postcode_before(before: &str) -> bool {
    let last = before.rsplit([' ', '\n', '\t', ',']).next().unwrap_or("");
    let digits = last.bytes().filter(u8::is_ascii_digit).count();
    let all_digits =
        !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b.is_ascii_uppercase());
    if (4..=5).contains(&digits) && all_digits && last.bytes().rev().take_while(u8::is_ascii_digit).count() >= 4 {
        return true;
    }
    // `1012 AB Amsterdam`
    let mut words = before.rsplit(' ');
    let (Some(letters), Some(num)) = (words.next(), words.next()) else {
        return false;
    };
    letters.len() == 2
        && letters.bytes().all(|b| b.is_ascii_uppercase())
        && num.len() == 4
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `after` starts with `, ST 12345` (a US state and ZIP code: the words before are a
/// city).
fn state_zip_after(after: &str) -> bool {
    let Some(rest) = after.strip_prefix(", ") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() >= 8 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2] == b' ' && b[3..8].iter().all(u8::is_ascii_digit)
}

fn floor(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The start of the line around `at`, looking back at most 200 bytes.
fn line_start(text: &str, at: usize) -> usize {
    let lo = floor(text, at.saturating_sub(200));
    text[lo..at].rfind('\n').map_or(lo, |i| lo + i + 1)
}

/// The sentence (or line) around `start..end`.
fn sentence_bounds(text: &str, start: usize, end: usize) -> Range<usize> {
    let is_end = |c: char| matches!(c, '.' | '!' | '?' | '\n' | ';');
    // At most 300 bytes either way: a sentence is not longer for this purpose.
    let lo = floor(text, start.saturating_sub(300));
    let hi = ceil(text, (end + 300).min(text.len()));
    let s = text[lo..start].rfind(is_end).map_or(lo, |i| lo + i + 1);
    let e = text[end..hi].find(is_end).map_or(hi, |i| end + i);
    s..e
}

/// Words that may sit between the capitalised words of a street or company name.
const NAME_JOINERS: &[&str] = &[
    "de", "du", "des", "la", "le", "les", "l", "d", "del", "della", "delle", "dei", "degli", "di", "da", "do", "dos",
    "das", "van", "von", "der", "den", "het", "y", "e", "i", "of", "the", "on", "upon", "and", "al", "el", "lo", "los",
    "las", "sur", "en", "aan", "op", "bij", "in", "am", "an", "auf", "zum", "zur", "im", "unter", "vor", "hinter",
    "über", "nel", "sul", "alla", "allo", "ai", "dal",
];

/// The end of a street name starting at `pos`: capitalised words and joiners, at most `max`
/// words, ending before a known city (unless it is the first word), a comma or a number.
fn street_name_end(text: &str, pos: usize, lex: &Lexicon, max: usize) -> usize {
    let mut end = pos;
    let mut at = pos;
    let mut words = 0;
    let mut buf = String::new();
    let mut has_cap = false;
    while words < max {
        let rest = &text[at..];
        let skip = rest.len() - rest.trim_start_matches([' ', '-']).len();
        if skip > 1 && words > 0 {
            break;
        }
        let rest = &rest[skip..];
        let wlen = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_alphabetic() || (i > 0 && (is_apostrophe(c) || c == '-' || c == '.'))))
            .map_or(rest.len(), |(i, _)| i);
        if wlen == 0 {
            break;
        }
        let word = rest[..wlen].trim_end_matches('.');
        let wlen = word.len();
        let first = word.chars().next().unwrap_or(' ');
        let key = lower_into(word, &mut buf);
        let joiner = in_list(NAME_JOINERS, key.trim_end_matches(['\'', '’']))
            || key.starts_with("d'")
            || key.starts_with("l'")
            || key.starts_with("d’")
            || key.starts_with("l’");
        let cap = first.is_uppercase();
        if !cap && !joiner {
            break;
        }
        if cap && has_cap && lex.place(key) && !joiner {
            break;
        }
        at += skip + wlen;
        words += 1;
        if cap || key.starts_with("d'") || key.starts_with("l'") || key.starts_with("d’") {
            has_cap = true;
            end = at;
        }
    }
    if has_cap { end } else { pos }
}

/// Words that begin street names (`Zur Spinnerin`, `Am Markt`, `Aan de Dom`).
const STREET_LEADS: &[&str] = &[
    "am", "an", "auf", "im", "in", "zum", "zur", "unter", "hinter", "vor", "alt", "alte", "alter", "altes", "neue",
    "neuer", "obere", "untere", "aan", "op", "bij", "achter", "over", "langs", "rue", "via", "calle", "the", "old",
    "new", "upper", "lower", "great", "little", "north", "south", "east", "west", "saint", "st", "sankt",
];

/// Street-type suffixes that make a compound street name on their own (`Hauptstraße`).
fn is_suffix_compound(word: &str) -> bool {
    let w = word.to_lowercase();
    [
        "straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "straat", "laan", "gracht", "plein", "kade",
        "singel", "dijk", "steeg", "gatan", "vägen", "vej",
    ]
    .iter()
    .any(|s| w.ends_with(s) && w.len() > s.len() + 1)
}

/// Extends a street name backwards from `pos` over up to `max` capitalised words and joiners
/// (`Berliner Straße 5`, `Aan de Dom 5`); stops at a lower-case word, punctuation or a line end.
fn extend_back(text: &str, pos: usize, lex: &Lexicon, max: usize) -> usize {
    let mut start = pos;
    let mut at = pos;
    let mut buf = String::new();
    for _ in 0..max {
        let before = &text[..at];
        if !before.ends_with(' ') {
            break;
        }
        let before = &before[..before.len() - 1];
        let wstart = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_alphabetic() || is_apostrophe(c) || c == '-' || c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[wstart..];
        if word.is_empty() {
            break;
        }
        let key = lower_into(word, &mut buf);
        let cap = word.chars().next().is_some_and(char::is_uppercase);
        let joiner = in_list(NAME_JOINERS, key);
        if !cap && !joiner {
            break;
        }
        // A capitalised common word at the start of a sentence is not part of the street.
        let sentence_start =
            before[..wstart].trim_end().is_empty() || before[..wstart].trim_end().ends_with(['.', '!', '?', ':', '\n']);
        if cap && lex.common(key) && sentence_start && !lex.not_person(key) && !in_list(STREET_LEADS, key) {
            break;
        }
        if cap
            && (lex.common(key) && !sentence_start)
            && matches!(key, "is" | "at" | "to" | "the" | "in" | "on" | "near" | "from")
        {
            break;
        }
        at = wstart;
        if cap {
            start = wstart;
        }
    }
    start
}

/// Company-name words after `I work at`: capitalised words, acronyms, `&`, joiners and legal
/// forms; stops at a lower-case word, most punctuation or the end of the line.
fn org_end(text: &str, pos: usize) -> usize {
    const FORMS: &[&str] = &[
        "inc", "inc.", "ltd", "ltd.", "llc", "plc", "gmbh", "ag", "sa", "s.a.", "se", "kg", "bv", "b.v.", "nv", "n.v.",
        "co", "co.", "corp", "corp.", "s.p.a.", "spa", "srl", "sarl", "sas", "oy", "ab", "as", "a/s", "lp", "llp",
    ];
    let mut end = pos;
    let mut at = pos;
    let mut words = 0;
    let mut buf = String::new();
    while words < 8 {
        let rest = &text[at..];
        let mut skip = rest.len() - rest.trim_start_matches(' ').len();
        if skip > 1 {
            break;
        }
        // `, Inc.` continues a company name.
        if words > 0 && rest.starts_with(", ") {
            let next: String = rest[2..].chars().take_while(|c| c.is_alphanumeric() || *c == '.').collect();
            if FORMS.contains(&next.to_lowercase().as_str()) {
                skip = 2;
            } else {
                break;
            }
        }
        let rest = &rest[skip..];
        let wlen = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_alphanumeric()
                    || c == '&'
                    || (i > 0 && (is_apostrophe(c) || c == '-' || c == '.' || c == '+' || c == '/')))
            })
            .map_or(rest.len(), |(i, _)| i);
        if wlen == 0 {
            break;
        }
        let mut word = &rest[..wlen];
        let key = lower_into(word, &mut buf).to_owned();
        if !FORMS.contains(&key.as_str()) {
            word = word.trim_end_matches('.');
        }
        let wlen = word.len();
        let first = word.chars().next().unwrap_or(' ');
        let cap = first.is_uppercase() || first.is_ascii_digit() || word == "&";
        let joiner = matches!(
            key.as_str(),
            "and" | "of" | "the" | "de" | "für" | "et" | "y" | "e" | "&" | "du" | "des" | "del" | "van" | "der"
        );
        if words == 0 && !cap {
            break;
        }
        if !cap && !joiner {
            break;
        }
        at += skip + wlen;
        words += 1;
        if cap && !joiner {
            end = at;
        }
        if word.ends_with('.') && !FORMS.contains(&key.as_str()) {
            break;
        }
    }
    // Some capitalised words are not companies (`I work at Home`).
    let name = text[pos..end].to_lowercase();
    if matches!(
        name.as_str(),
        "home" | "night" | "nights" | "weekends" | "present" | "the moment" | "times" | "first" | "least" | "last"
    ) {
        return pos;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<(Kind, String)> {
        let ner = Ner::new().unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        ner.candidates(text, |_| true, &[], &mut |r, k| out.push((k, text[r].to_owned())));
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn tokens_keep_inner_apostrophes_and_drop_possessives() {
        let text = "O'Brien met Jean-Luc at Anna's.";
        let words: Vec<&str> = tokens(text).iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(words, ["O'Brien", "met", "Jean-Luc", "at", "Anna"]);
    }

    #[test]
    fn names_with_and_without_context() {
        let got = find("Dear Priya Natarajan, my wife Will and Mr. Okafor met Jonas Weber.");
        for want in ["Priya Natarajan", "Will", "Okafor", "Jonas Weber"] {
            assert!(got.contains(&(Kind::Person, want.into())), "{want} in {got:?}");
        }
    }

    #[test]
    fn ordinary_words_are_not_names() {
        for text in [
            "Will this compile on Rust 1.95?",
            "May I ask why?",
            "Bill the customer and mark the invoice as paid.",
            "Our office in Paris moved.",
            "The Julia set is a fractal.",
        ] {
            assert_eq!(find(text), vec![], "{text}");
        }
    }

    #[test]
    fn health_and_employers_need_a_person() {
        let got = find("I work at Acme Robotics GmbH and my wife takes sertraline.");
        assert!(got.contains(&(Kind::Employer, "Acme Robotics GmbH".into())), "{got:?}");
        assert!(got.contains(&(Kind::Health, "sertraline".into())), "{got:?}");
        for text in ["It works at compile time.", "Cancer research datasets are imbalanced.", "I work at night."] {
            assert_eq!(find(text), vec![], "{text}");
        }
    }

    #[test]
    fn dates_only_when_tied_to_a_person() {
        assert_eq!(find("DOB: 1984-05-03"), vec![(Kind::Date, "1984-05-03".into())]);
        assert_eq!(find("Ich bin am 3. Mai 1984 geboren."), vec![(Kind::Date, "3. Mai 1984".into())]);
        assert_eq!(find("Released on 3 May 2024, deadline 2024-05-03."), vec![]);
    }

    #[test]
    fn addresses_postcodes_dates_ids() {
        let got = find("I live at 221B Baker Street, London NW1 6XE and was born on 3 May 1984.");
        assert!(got.contains(&(Kind::Address, "221B Baker Street".into())), "{got:?}");
        assert!(got.contains(&(Kind::PostalCode, "NW1 6XE".into())), "{got:?}");
        assert!(got.contains(&(Kind::Date, "3 May 1984".into())), "{got:?}");
        let got = find("Hauptstraße 5, 10115 Berlin");
        assert!(got.contains(&(Kind::Address, "Hauptstraße 5".into())), "{got:?}");
        assert!(got.contains(&(Kind::PostalCode, "10115".into())), "{got:?}");
    }
}
#[cfg(test)]
mod debug {
    use super::*;
    #[test]
    fn dbg_infos() {
        let Ok(ner) = Ner::new() else { return };
        let lex = Lexicon::get();
        let mut buf = String::new();
        for text in std::env::var("DBG").unwrap_or_default().split('|') {
            let toks = tokens(text);
            for t in &toks {
                eprintln!("{:?} {:?}", &text[t.start..t.end], ner.info(text, *t, lex, &mut buf));
            }
            let mut out = Vec::new();
            ner.candidates(text, |_| true, &[], &mut |r, k| out.push((k, text[r].to_owned())));
            eprintln!("=> {out:?}");
        }
    }
}

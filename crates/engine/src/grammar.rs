//! Checks a GBNF grammar as llama.cpp's parser (`llama_grammar_parser` in llama-grammar.cpp of
//! the pinned llama.cpp) would, before llama.cpp sees it.
//!
//! Why: llama.cpp writes a grammar it cannot parse, whole, to the process's stderr with a plain
//! `fprintf` that no log callback sees, so a request's grammar would land in `sov serve`'s log.
//! A grammar refused here never reaches llama.cpp, and the error names only a line and column.
//!
//! Guarantee: every grammar accepted here is accepted by llama.cpp's parser. The check follows
//! the parser step by step (the same tokens, escapes, repetition limits and symbol counting) and
//! refuses a little more where that is simpler and no real grammar needs it: a repetition whose
//! maximum is below its minimum (`{3,1}`, on which llama.cpp would generate rules without end),
//! and counts that overflow. `<token>` references are checked with the model's tokenizer.

use std::collections::HashSet;

/// llama.cpp's `MAX_REPETITION_THRESHOLD`.
const MAX_REPETITION: u64 = 2000;

/// Why a grammar is refused: what, and where (1-based line and column, counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrammarProblem {
    pub(crate) what: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl std::fmt::Display for GrammarProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {}, column {}", self.what, self.line, self.column)
    }
}

/// Checks `grammar`; `one_token` says whether a `<…>` token reference's text (brackets
/// included) is exactly one token of the model, as llama.cpp requires.
pub(crate) fn check(grammar: &str, one_token: &dyn Fn(&str) -> bool) -> Result<(), GrammarProblem> {
    let mut parser = Parser {
        src: grammar.as_bytes(),
        one_token,
        symbols: Symbols::default(),
        defined: HashSet::new(),
        references: Vec::new(),
    };
    let fail = |at: usize, what: String| {
        let before = &grammar[..at.min(grammar.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        GrammarProblem { what, line, column }
    };
    if let Some(at) = grammar.find('\0') {
        return Err(fail(at, "a NUL character".into()));
    }
    parser.parse().map_err(|(at, what)| fail(at, what))?;
    // The error says where, never what the grammar says (its text may be private).
    if let Some(&(at, _)) = parser.references.iter().find(|(_, name)| !parser.defined.contains(name)) {
        return Err(fail(at, "a rule is used but never defined".into()));
    }
    // What llama.cpp refuses next (without printing the grammar), said more plainly.
    if !parser.defined.contains(b"root".as_slice()) {
        return Err(fail(grammar.len(), "the grammar defines no `root` rule, where answers start".into()));
    }
    Ok(())
}

type Step<T> = Result<T, (usize, String)>;

/// llama.cpp's `symbol_ids`: only its size matters here (generated names hold a `_`, which no
/// rule name can, so they never meet the grammar's own names).
#[derive(Default)]
struct Symbols {
    names: HashSet<Vec<u8>>,
    generated: u64,
}

impl Symbols {
    fn len(&self) -> u64 {
        self.names.len() as u64 + self.generated
    }

    fn name(&mut self, name: &[u8]) {
        self.names.insert(name.to_vec());
    }

    fn generate(&mut self) {
        self.generated += 1;
    }
}

struct Parser<'a> {
    src: &'a [u8],
    one_token: &'a dyn Fn(&str) -> bool,
    symbols: Symbols,
    /// Names of the rules defined so far.
    defined: HashSet<Vec<u8>>,
    /// Each use of a rule name, and where.
    references: Vec<(usize, Vec<u8>)>,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

impl Parser<'_> {
    /// The byte at `i`, 0 past the end (llama.cpp reads a NUL-terminated string).
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn parse(&mut self) -> Step<()> {
        let mut i = self.space(0, true);
        while self.at(i) != 0 {
            i = self.rule(i)?;
        }
        Ok(())
    }

    fn space(&self, mut i: usize, newline_ok: bool) -> usize {
        loop {
            match self.at(i) {
                b' ' | b'\t' => i += 1,
                b'\r' | b'\n' if newline_ok => i += 1,
                b'#' => {
                    while !matches!(self.at(i), 0 | b'\r' | b'\n') {
                        i += 1;
                    }
                }
                _ => return i,
            }
        }
    }

    fn name(&self, start: usize) -> Step<usize> {
        let mut i = start;
        while is_word(self.at(i)) {
            i += 1;
        }
        if i == start {
            return Err((start, "expecting a rule name".into()));
        }
        Ok(i)
    }

    /// Digits at `start` and their value; `None` when it overflows 64 bits (llama.cpp's
    /// `stoull` throws there).
    fn int(&self, start: usize) -> Step<(usize, Option<u64>)> {
        let mut i = start;
        let mut value = Some(0u64);
        while self.at(i).is_ascii_digit() {
            value = value.and_then(|v| v.checked_mul(10)?.checked_add(u64::from(self.at(i) - b'0')));
            i += 1;
        }
        if i == start {
            return Err((start, "expecting a number".into()));
        }
        Ok((i, value))
    }

    fn hex(&self, start: usize, size: usize) -> Step<usize> {
        if (start..start + size).all(|i| self.at(i).is_ascii_hexdigit()) {
            Ok(start + size)
        } else {
            Err((start, format!("expecting {size} hexadecimal digits")))
        }
    }

    fn char(&self, i: usize) -> Step<usize> {
        match self.at(i) {
            b'\\' => match self.at(i + 1) {
                b'x' => self.hex(i + 2, 2),
                b'u' => self.hex(i + 2, 4),
                b'U' => self.hex(i + 2, 8),
                b't' | b'r' | b'n' | b'\\' | b'"' | b'[' | b']' | b'-' => Ok(i + 2),
                _ => Err((i, "unknown escape".into())),
            },
            0 => Err((i, "unexpected end of the grammar".into())),
            // One UTF-8 character (the grammar is a valid `str`, and `i` is on a boundary).
            lead => Ok(i + match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            }),
        }
    }

    fn token(&self, start: usize) -> Step<usize> {
        if self.at(start) != b'<' {
            return Err((start, "expecting '<'".into()));
        }
        let mut i = start + 1;
        if self.at(i) == b'[' {
            let (end, id) = self.int(i + 1)?;
            if id.is_none_or(|id| id > u64::from(u32::MAX)) {
                return Err((i + 1, "token id too big".into()));
            }
            if self.at(end) != b']' {
                return Err((end, "expecting ']'".into()));
            }
            if self.at(end + 1) != b'>' {
                return Err((end + 1, "expecting '>'".into()));
            }
            return Ok(end + 2);
        }
        while !matches!(self.at(i), 0 | b'>') {
            i += 1;
        }
        if self.at(i) != b'>' {
            return Err((i, "expecting '>'".into()));
        }
        let text = std::str::from_utf8(&self.src[start..=i]).map_err(|_| (start, "a token that is not text".into()))?;
        if !(self.one_token)(text) {
            return Err((start, "a token reference that is not exactly one token of this model".into()));
        }
        Ok(i + 1)
    }

    fn rule(&mut self, start: usize) -> Step<usize> {
        let name_end = self.name(start)?;
        let mut i = self.space(name_end, false);
        let name = self.src[start..name_end].to_vec();
        self.symbols.name(&name);
        if !self.src[i..].starts_with(b"::=") {
            return Err((i, "expecting ::=".into()));
        }
        i = self.space(i + 3, true);
        i = self.alternates(i, false)?;
        self.defined.insert(name);
        match self.at(i) {
            b'\r' => i += if self.at(i + 1) == b'\n' { 2 } else { 1 },
            b'\n' => i += 1,
            0 => {}
            _ => return Err((i, "expecting a newline or the end".into())),
        }
        Ok(self.space(i, true))
    }

    fn alternates(&mut self, start: usize, nested: bool) -> Step<usize> {
        let mut i = self.sequence(start, nested)?;
        while self.at(i) == b'|' {
            i = self.space(i + 1, true);
            i = self.sequence(i, nested)?;
        }
        Ok(i)
    }

    fn sequence(&mut self, start: usize, nested: bool) -> Step<usize> {
        let mut i = start;
        // Whether the last item put any element in the rule (what a repetition applies to), and
        // llama.cpp's `n_prev_rules`.
        let mut item = false;
        let mut prev_rules: u64 = 1;
        loop {
            match self.at(i) {
                b'"' => {
                    i += 1;
                    let mut chars = 0;
                    while self.at(i) != b'"' {
                        if self.at(i) == 0 {
                            return Err((i, "unexpected end of the grammar inside a string".into()));
                        }
                        i = self.char(i)?;
                        chars += 1;
                    }
                    (item, prev_rules) = (chars > 0, 1);
                    i = self.space(i + 1, nested);
                }
                b'[' => {
                    i += 1;
                    if self.at(i) == b'^' {
                        i += 1;
                    }
                    let mut chars = 0;
                    while self.at(i) != b']' {
                        if self.at(i) == 0 {
                            return Err((i, "unexpected end of the grammar inside a character class".into()));
                        }
                        i = self.char(i)?;
                        chars += 1;
                        if self.at(i) == b'-' && self.at(i + 1) != b']' {
                            if self.at(i + 1) == 0 {
                                return Err((i + 1, "unexpected end of the grammar inside a character class".into()));
                            }
                            i = self.char(i + 1)?;
                        }
                    }
                    (item, prev_rules) = (chars > 0, 1);
                    i = self.space(i + 1, nested);
                }
                b'<' | b'!' => {
                    let at = if self.at(i) == b'!' { i + 1 } else { i };
                    i = self.space(self.token(at)?, nested);
                    (item, prev_rules) = (true, 1);
                }
                c if is_word(c) => {
                    let end = self.name(i)?;
                    let name = &self.src[i..end];
                    self.symbols.name(name);
                    self.references.push((i, name.to_vec()));
                    i = self.space(end, nested);
                    (item, prev_rules) = (true, 1);
                }
                b'(' => {
                    i = self.space(i + 1, true);
                    let before = self.symbols.len();
                    self.symbols.generate();
                    i = self.alternates(i, true)?;
                    prev_rules = (self.symbols.len() - before).max(1);
                    item = true;
                    if self.at(i) != b')' {
                        return Err((i, "expecting ')'".into()));
                    }
                    i = self.space(i + 1, nested);
                }
                b'.' => {
                    (item, prev_rules) = (true, 1);
                    i = self.space(i + 1, nested);
                }
                op @ (b'*' | b'+' | b'?') => {
                    let at = i;
                    i = self.space(i + 1, nested);
                    let (min, max) = match op {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    (item, prev_rules) = self.repeat(at, item, prev_rules, min, max)?;
                }
                b'{' => {
                    let at = i;
                    i = self.space(i + 1, nested);
                    if !self.at(i).is_ascii_digit() {
                        return Err((i, "expecting a number".into()));
                    }
                    let (end, min) = self.int(i)?;
                    let min = min.ok_or((i, "a repetition count too big".to_owned()))?;
                    i = self.space(end, nested);
                    let max = match self.at(i) {
                        b'}' => Some(min),
                        b',' => {
                            i = self.space(i + 1, nested);
                            let mut max = None;
                            if self.at(i).is_ascii_digit() {
                                let (end, value) = self.int(i)?;
                                max = Some(value.ok_or((i, "a repetition count too big".to_owned()))?);
                                i = self.space(end, nested);
                            }
                            if self.at(i) != b'}' {
                                return Err((i, "expecting '}'".into()));
                            }
                            max
                        }
                        _ => return Err((i, "expecting ','".into())),
                    };
                    i = self.space(i + 1, nested);
                    if min > MAX_REPETITION {
                        return Err((at, format!("more than {MAX_REPETITION} repetitions")));
                    }
                    let max = max.filter(|&m| m <= MAX_REPETITION);
                    if max.is_some_and(|m| m < min) {
                        return Err((at, "a repetition whose maximum is below its minimum".into()));
                    }
                    (item, prev_rules) = self.repeat(at, item, prev_rules, min, max)?;
                }
                _ => return Ok(i),
            }
        }
    }

    /// llama.cpp's `handle_repetitions`: what the sequence holds after it.
    fn repeat(&mut self, at: usize, item: bool, prev_rules: u64, min: u64, max: Option<u64>) -> Step<(bool, u64)> {
        if !item {
            return Err((at, "a repetition without an item before it".into()));
        }
        let total = match max {
            Some(max) if max > 0 => max,
            _ if min > 0 => min,
            _ => 1,
        };
        let rules = prev_rules.checked_mul(total).filter(|&n| n <= MAX_REPETITION);
        let Some(rules) = rules else {
            return Err((at, format!("repetitions that would make more than {MAX_REPETITION} rules")));
        };
        let optional = max.map_or(1, |max| max - min);
        for _ in 0..optional {
            self.symbols.generate();
        }
        Ok((min > 0 || optional > 0, rules))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn verdict(grammar: &str) -> Result<(), String> {
        check(grammar, &|token| token == "<|im_end|>").map_err(|p| p.to_string())
    }

    #[test]
    fn grammars_llama_cpp_accepts_pass() {
        for good in [
            "root ::= \"yes\" | \"no\"",
            "root ::= [a-z]+ (\",\" [a-z]+)*\n",
            "# a comment\nroot ::= item{2,5} tail?\r\nitem ::= [^\\n\\x41\\u00e9\\U0001F600] | \".\"\ntail ::= . \"é\"\n",
            "root ::= \"a\"{3} \"b\"{0,} \"c\"{1,2000} \"d\"{0,0}\n",
            "root ::= ( \"x\"\n  | \"y\" )\nother ::= root",
            "root ::= <[42]> !<[7]> <|im_end|>",
            "root ::= [\\]\\[\\-] [a-] \"\\\"\\\\\\t\\r\"",
            "root ::=",
        ] {
            assert_eq!(verdict(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn what_llama_cpp_would_refuse_is_refused_with_a_position() {
        for (bad, what) in [
            ("root ::= ((", "expecting ')'"),
            ("root ::= \"unterminated", "inside a string"),
            ("root ::= [abc", "character class"),
            ("root ::= \"\\q\"", "unknown escape"),
            ("root ::= \"\\x4\"", "hexadecimal"),
            ("root = \"x\"", "expecting ::="),
            ("root ::= \"x\" )", "newline or the end"),
            ("root ::= *", "without an item"),
            ("root ::= \"\"*", "without an item"),
            ("root ::= \"a\"{0,0}*", "without an item"),
            ("root ::= \"a\"{2001}", "more than 2000"),
            ("root ::= \"a\"{3,1}", "below its minimum"),
            ("root ::= (\"a\"{0,100}){0,100}", "more than 2000 rules"),
            ("root ::= \"a\"{99999999999999999999}", "too big"),
            ("root ::= \"a\"{1 2}", "expecting ','"),
            ("root ::= <[99999999999]>", "too big"),
            ("root ::= <[1>", "expecting ']'"),
            ("root ::= <nope>", "exactly one token"),
            ("root ::= !x", "expecting '<'"),
            ("root ::= item", "a rule is used but never defined"),
            ("::= \"x\"", "rule name"),
            ("root ::= \"a\0\"", "NUL"),
        ] {
            let error = verdict(bad).expect_err(bad);
            assert!(error.contains(what) && error.contains("line"), "{bad:?}: {error}");
        }
        assert_eq!(verdict("root ::= \"x\"\nnext ::= ((\n").unwrap_err(), "expecting ')' at line 3, column 1");
        assert_eq!(
            verdict("root ::= a\na ::= b\n").unwrap_err(),
            "a rule is used but never defined at line 2, column 7"
        );
        assert_eq!(verdict("root ::= (\"a\"{100}){20}"), Ok(()), "a group of one rule counts once, as in llama.cpp");
    }

    #[test]
    fn the_error_never_repeats_the_grammar() {
        let secret = "MARKER-4f1c9e";
        for bad in [format!("root ::= \"{secret}\" ("), format!("root ::= {secret}"), format!("{secret} ::= \"\\q\"")] {
            let error = verdict(&bad).unwrap_err();
            assert!(!error.contains("MARKER"), "{error}");
        }
    }

    /// Grammars of every kind of construct, for the comparison with llama.cpp below.
    const CORPUS: &[&str] = &[
        "root ::= \"yes\" | \"no\"",
        "root ::= [a-z]+ (\",\" [a-z]+)*\n",
        "# c\nroot ::= item{2,5} tail?\r\nitem ::= [^\\n\\x41\\u00e9] | \".\"\ntail ::= . \"é\"\n",
        "root ::= \"a\"{3} \"b\"{0,} \"c\"{1,20} \"d\"{0,0} e{2,}\ne ::= [0-9]",
        "root ::= ( \"x\"\n  | \"y\" )* <[42]> !<[7]>\nother ::= root",
        "root ::= object\nobject ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n\
         value ::= object | string | [0-9]+ | (\"true\" | \"false\")\nstring ::= \"\\\"\" ( [^\"\\\\] | \"\\\\\" [\"\\\\/bfnrt] )* \"\\\"\"\n\
         ws ::= ([ \\t\\n] ws)?\n",
        "root ::= (\"a\"{0,10}){0,10} [\\]\\[\\-] [a-]",
    ];

    /// Every grammar `check` accepts, llama.cpp's parser accepts too: the corpus, each of its
    /// prefixes, and each with one character removed or one of GBNF's special characters put in.
    #[test]
    fn llama_cpp_accepts_every_grammar_the_check_accepts() {
        let Some(dir) = std::env::var_os("SOV_TEST_MODELS") else {
            panic!("SOV_TEST_MODELS is not set: run scripts/test.sh, which installs the test models")
        };
        let backend = crate::init_backend().unwrap();
        let params = llama_cpp_2::model::params::LlamaModelParams::default().with_vocab_only(true);
        let path = std::path::Path::new(&dir).join("smollm2.gguf");
        let model = llama_cpp_2::model::LlamaModel::load_from_file(backend, &path, &params).unwrap();
        let vocab = model.vocab();
        let one_token = |token: &str| vocab.tokenize(token.as_bytes(), false, true).len() == 1;
        let mut candidates: Vec<String> = Vec::new();
        for grammar in CORPUS {
            let chars: Vec<(usize, char)> = grammar.char_indices().collect();
            for &(at, c) in &chars {
                candidates.push(grammar[..at].to_owned());
                candidates.push(format!("{}{}", &grammar[..at], &grammar[at + c.len_utf8()..]));
                for special in [
                    "\"", "[", "]", "(", ")", "{", "}", ",", "*", "+", "?", "|", "\\", "<", ">", "!", "\n", "#", "-",
                    "^", "0",
                ] {
                    candidates.push(format!("{}{special}{}", &grammar[..at], &grammar[at..]));
                }
            }
            candidates.push((*grammar).to_owned());
        }
        // llama.cpp's own log (its refusals after parsing, which never print the grammar).
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let _capture = tracing::subscriber::set_default(Capture(log.clone()));
        let theirs = |grammar: &str| {
            log.lock().unwrap().clear();
            let made = llama_cpp_2::sampling::LlamaSampler::grammar(&model, grammar, "root").is_ok();
            (made, log.lock().unwrap().clone())
        };
        let mut accepted = 0;
        for grammar in &candidates {
            if check(grammar, &one_token).is_ok() {
                accepted += 1;
                let (made, said) = theirs(grammar);
                // Left recursion is refused after parsing, in the log, naming a rule's index.
                assert!(
                    made || said.contains("left recursion"),
                    "llama.cpp refuses what check accepts: {grammar:?}: {said}"
                );
            } else if !grammar.contains('{') {
                // Refusing what llama.cpp takes is allowed only for the documented repetition
                // cases (and llama.cpp must not be handed `{1,0}`, on which it runs out of memory).
                assert!(!theirs(grammar).0, "check refuses a grammar llama.cpp takes: {grammar:?}");
            }
        }
        assert!(accepted > 100, "the comparison must cover accepted grammars: {accepted}");
    }

    /// A tracing subscriber that keeps the events' messages.
    struct Capture(std::sync::Arc<std::sync::Mutex<String>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Text<'a>(&'a mut String);
            impl tracing::field::Visit for Text<'_> {
                fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    self.0.push_str(&format!("{value:?} "));
                }
            }
            event.record(&mut Text(&mut self.0.lock().unwrap()));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
}

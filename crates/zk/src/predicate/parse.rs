//! The predicate text form, e.g. `age in 40..=70 and icd10 == E11 and hba1c >= 6.5`.
//!
//! Grammar (keywords lower-case, whitespace-separated):
//!
//! ```text
//! predicate  := conjunct ("and" conjunct)*  |  comparison ("or" comparison)+
//! conjunct   := comparison | "(" comparison ("or" comparison)* ")"
//! comparison := NAME ("==" | "!=" | ">=" | "<=" | ">" | "<") LITERAL
//!             | NAME ["not"] "in" LITERAL "..=" LITERAL
//! ```
//!
//! Mixing `and` and `or` without parentheses is refused rather than given a precedence. Literals
//! are read with the attribute's encoding (numbers, `YYYY-MM-DD` dates, ICD-10 codes, table
//! codes). On a multi-valued attribute (`icd10`) a comparison means *some value matches*, and a
//! negation (`!=`, `not in`) means *no value matches*: an [`Exclusion`] ("no diagnosis E11"),
//! which the circuit checks on every index of the attribute. An exclusion must be a conjunct of
//! its own (not inside an `or`) and may span at most 16 indices. Code tables (`sex`) accept only
//! `==`, `!=`, `in`, `not in`.

use super::{Clause, Exclusion, Predicate};
use crate::error::{Result, ZkError};
use crate::schema::{Attribute, Encoding, Schema};

impl Predicate {
    /// Parses the text form against a schema.
    pub fn parse(text: &str, schema: &Schema) -> Result<Self> {
        let tokens = tokenize(text)?;
        Parser {
            tokens: &tokens,
            position: 0,
            schema,
            end: text.len(),
        }
        .predicate()
    }
}

/// What one comparison lowers to.
enum Term {
    Clause(Clause),
    Exclusion(Exclusion),
}

/// What one conjunct lowers to.
enum Conjunct {
    Group(Vec<Clause>),
    Exclusion(Exclusion),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Op(Op),
    Range,
    Open,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

const OPERATORS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'+')
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token<'_>)>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &text[at..];
        if bytes[at].is_ascii_whitespace() {
            at += 1;
        } else if rest.starts_with("..=") {
            tokens.push((at, Token::Range));
            at += 3;
        } else if let Some((symbol, op)) = OPERATORS.iter().find(|(s, _)| rest.starts_with(s)) {
            tokens.push((at, Token::Op(*op)));
            at += symbol.len();
        } else if bytes[at] == b'(' || bytes[at] == b')' {
            tokens.push((
                at,
                if bytes[at] == b'(' {
                    Token::Open
                } else {
                    Token::Close
                },
            ));
            at += 1;
        } else if is_word_byte(bytes[at]) {
            // A word stops before "..", so `40..=70` is `40`, `..=`, `70`.
            let length = rest
                .bytes()
                .enumerate()
                .take_while(|(i, b)| is_word_byte(*b) && !rest[*i..].starts_with(".."))
                .count();
            if length == 0 {
                return Err(syntax(at, "unexpected `.`"));
            }
            tokens.push((at, Token::Word(&rest[..length])));
            at += length;
        } else {
            let found = rest.chars().next().unwrap_or(' ');
            return Err(syntax(at, format!("unexpected character `{found}`")));
        }
    }
    Ok(tokens)
}

fn syntax(position: usize, message: impl Into<String>) -> ZkError {
    ZkError::Syntax {
        position,
        message: message.into(),
    }
}

struct Parser<'t, 's> {
    tokens: &'t [(usize, Token<'t>)],
    position: usize,
    schema: &'s Schema,
    end: usize,
}

impl<'t> Parser<'t, '_> {
    fn peek(&self) -> Option<&'t Token<'t>> {
        self.tokens.get(self.position).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.position)
            .map_or(self.end, |(at, _)| *at)
    }

    fn next(&mut self) -> Option<&'t Token<'t>> {
        let token = self.peek();
        self.position += usize::from(token.is_some());
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = self.peek() == Some(&Token::Word(word));
        self.position += usize::from(found);
        found
    }

    fn word(&mut self, what: &str) -> Result<&'t str> {
        let at = self.offset();
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            _ => Err(syntax(at, format!("expected {what}"))),
        }
    }

    fn predicate(mut self) -> Result<Predicate> {
        let mut groups = Vec::new();
        let mut exclusions = Vec::new();
        let first = self.conjunct()?;
        let top_level_or = self.peek() == Some(&Token::Word("or"));
        match first {
            Conjunct::Group(mut group) if group.len() == 1 && top_level_or => {
                while self.keyword("or") {
                    group.push(self.clause()?);
                }
                groups.push(group);
            }
            first => {
                let mut push = |conjunct| match conjunct {
                    Conjunct::Group(group) => groups.push(group),
                    Conjunct::Exclusion(exclusion) => exclusions.push(exclusion),
                };
                push(first);
                while self.keyword("and") {
                    push(self.conjunct()?);
                }
            }
        }
        match self.peek() {
            None => Predicate::new(self.schema, groups, exclusions),
            Some(Token::Word("and" | "or")) => Err(syntax(
                self.offset(),
                "mixing `and` and `or` needs parentheses",
            )),
            Some(_) => Err(syntax(self.offset(), "expected `and`, `or` or the end")),
        }
    }

    fn conjunct(&mut self) -> Result<Conjunct> {
        if self.peek() != Some(&Token::Open) {
            return Ok(match self.comparison()? {
                Term::Clause(clause) => Conjunct::Group(vec![clause]),
                Term::Exclusion(exclusion) => Conjunct::Exclusion(exclusion),
            });
        }
        self.position += 1;
        let mut group = vec![self.clause()?];
        while self.keyword("or") {
            group.push(self.clause()?);
        }
        let at = self.offset();
        match self.next() {
            Some(Token::Close) => Ok(Conjunct::Group(group)),
            _ => Err(syntax(at, "expected `or` or `)`")),
        }
    }

    /// A comparison inside an `or`: exclusions are refused there (a none-of criterion is a
    /// conjunct of its own).
    fn clause(&mut self) -> Result<Clause> {
        let at = self.offset();
        match self.comparison()? {
            Term::Clause(clause) => Ok(clause),
            Term::Exclusion(_) => Err(syntax(
                at,
                "a none-of criterion (negation on a multi-valued attribute) cannot be part of an `or`",
            )),
        }
    }

    fn comparison(&mut self) -> Result<Term> {
        let at = self.offset();
        let name = self.word("an attribute name")?;
        let (first, attribute) = self
            .schema
            .get(name)
            .ok_or_else(|| syntax(at, format!("unknown attribute `{name}`")))?;
        let last = first + attribute.slots() - 1;
        let op_at = self.offset();
        let negated_range = self.keyword("not");
        if negated_range || self.keyword("in") {
            if negated_range && !self.keyword("in") {
                return Err(syntax(self.offset(), "expected `in` after `not`"));
            }
            let (low, _) = self.literal(attribute)?;
            self.expect_range()?;
            let (_, high) = self.literal(attribute)?;
            return term(first, last, low, high, negated_range);
        }
        let op = match self.next() {
            Some(Token::Op(op)) => *op,
            _ => return Err(syntax(op_at, "expected a comparison operator or `in`")),
        };
        if matches!(attribute.encoding(), Encoding::Table(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(syntax(
                op_at,
                format!("`{name}` is a code table: use == or !="),
            ));
        }
        let (low, high) = self.literal(attribute)?;
        let interval = match op {
            Op::Eq | Op::Ne => Some((low, high)),
            Op::Ge => Some((low, u64::MAX)),
            Op::Gt => high.checked_add(1).map(|l| (l, u64::MAX)),
            Op::Le => Some((1, high)),
            Op::Lt => low.checked_sub(1).filter(|h| *h >= 1).map(|h| (1, h)),
        };
        let (low, high) = interval.ok_or_else(|| syntax(op_at, "comparison can never hold"))?;
        term(first, last, low, high, op == Op::Ne)
    }

    fn literal(&mut self, attribute: &Attribute) -> Result<(u64, u64)> {
        let text = self.word("a value")?;
        attribute.literal_range(text)
    }

    fn expect_range(&mut self) -> Result<()> {
        let at = self.offset();
        match self.next() {
            Some(Token::Range) => Ok(()),
            _ => Err(syntax(at, "expected `..=`")),
        }
    }
}

/// A negation over several indices is a none-of criterion ("no value in the interval"); over
/// one index it is a clause ("a present value outside the interval").
fn term(first: u32, last: u32, low: u64, high: u64, negated: bool) -> Result<Term> {
    if negated && last > first {
        Exclusion::new(first, last, low, high).map(Term::Exclusion)
    } else {
        Clause::new(first, last, low, high, negated).map(Term::Clause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::encoding::{encode_signed, icd10_range};

    fn schema() -> Schema {
        Schema::clinical_v1()
    }

    fn parse(text: &str) -> Result<Predicate> {
        Predicate::parse(text, &schema())
    }

    fn index(name: &str) -> u32 {
        schema().get(name).expect(name).0
    }

    fn milli(value: i64) -> u64 {
        encode_signed(value).expect("in range")
    }

    #[test]
    fn the_issue_example_lowers_to_three_clauses() {
        let p = parse("age in 40..=70 and icd10 == E11 and hba1c >= 6.5").expect("parses");
        let (icd_first, icd) = schema()
            .get("icd10")
            .map(|(i, a)| (i, a.slots()))
            .expect("icd10");
        let (e11_low, e11_high) = icd10_range("E11").expect("code");
        let expected = Predicate::all(
            &schema(),
            vec![
                Clause::on(index("age"), milli(40), milli(70), false).expect("c"),
                Clause::new(icd_first, icd_first + icd - 1, e11_low, e11_high, false).expect("c"),
                Clause::on(index("hba1c"), milli(6500), u64::MAX, false).expect("c"),
            ],
        )
        .expect("p");
        assert_eq!(p, expected);
    }

    #[test]
    fn negations_on_multi_valued_attributes_are_exclusions() {
        let (icd_first, icd) = schema()
            .get("icd10")
            .map(|(i, a)| (i, a.slots()))
            .expect("icd10");
        let (e11_low, e11_high) = icd10_range("E11").expect("code");
        let p = parse("age >= 40 and icd10 != E11").expect("parses");
        assert_eq!(p.groups().len(), 1);
        assert_eq!(
            p.exclusions(),
            [Exclusion::new(icd_first, icd_first + icd - 1, e11_low, e11_high).expect("e")]
        );
        let (e10_low, _) = icd10_range("E10").expect("code");
        let (_, e14_high) = icd10_range("E14").expect("code");
        let p = parse("icd10 not in E10..=E14").expect("parses");
        assert!(p.groups().is_empty());
        assert_eq!(p.exclusions()[0].interval(), (e10_low, e14_high));
        // Inside an `or` an exclusion has no sound meaning: refused.
        assert!(matches!(
            parse("(age >= 40 or icd10 != E11)"),
            Err(ZkError::Syntax { position: 14, .. })
        ));
        assert!(matches!(
            parse("age >= 40 or icd10 != E11"),
            Err(ZkError::Syntax { position: 13, .. })
        ));
    }

    #[test]
    fn an_exclusion_wider_than_a_none_of_slot_is_refused() {
        let wide = Attribute::multi("codes", Encoding::Integer, 17, crate::FhirSource::None);
        let schema = Schema::new("wide_v1", vec![wide]).expect("schema");
        assert!(matches!(
            Predicate::parse("codes != 3", &schema),
            Err(ZkError::InvalidPredicate(_))
        ));
        assert!(Predicate::parse("codes == 3", &schema).is_ok());
    }

    #[test]
    fn operators_lower_to_intervals() {
        let age = index("age");
        let one = |text: &str| parse(text).expect(text).groups()[0][0];
        assert_eq!(
            one("age == 5"),
            Clause::on(age, milli(5), milli(5), false).expect("c")
        );
        assert_eq!(
            one("age != 5"),
            Clause::on(age, milli(5), milli(5), true).expect("c")
        );
        assert_eq!(
            one("age > 5"),
            Clause::on(age, milli(6), u64::MAX, false).expect("c")
        );
        assert_eq!(
            one("age < 5"),
            Clause::on(age, 1, milli(4), false).expect("c")
        );
        assert_eq!(
            one("age <= 5"),
            Clause::on(age, 1, milli(5), false).expect("c")
        );
        assert_eq!(
            one("age not in 1..=2"),
            Clause::on(age, milli(1), milli(2), true).expect("c")
        );
        assert_eq!(
            one("sex == male"),
            Clause::on(index("sex"), 1, 1, false).expect("c")
        );
        let date = one("birth_date <= 1970-01-02");
        assert_eq!(date.interval(), (1, milli(1)));
    }

    #[test]
    fn or_groups_and_top_level_disjunctions_parse() {
        let p = parse("(icd10 == E10 or icd10 == E11) and sex == female").expect("parses");
        assert_eq!(p.groups().iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        let p = parse("age < 18 or age > 65").expect("parses");
        assert_eq!(p.groups().len(), 1);
        assert_eq!(p.groups()[0].len(), 2);
    }

    #[test]
    fn bad_text_is_refused_with_a_position() {
        for (text, position) in [
            ("", 0),
            ("age", 3),
            ("age >=", 6),
            ("weight >= 70 and", 16),
            ("nope == 1", 0),
            ("age == 1 or age == 2 and sex == male", 21),
            ("age == 1 and age == 2 or sex == male", 22),
            ("(age == 1 or age == 2", 21),
            ("age in 1..2", 8),
            ("age == 1 age == 2", 9),
            ("sex >= male", 4),
            ("age not 5", 8),
            ("age < -9223372036854775807", 4),
            ("age == 1 $", 9),
            ("age == ..=", 7),
        ] {
            match parse(text) {
                Err(ZkError::Syntax { position: p, .. }) => assert_eq!(p, position, "{text}"),
                other => panic!("{text}: expected a syntax error, got {other:?}"),
            }
        }
        assert!(matches!(
            parse("hba1c >= 6.5555"),
            Err(ZkError::Encoding { .. })
        ));
        assert!(matches!(parse("sex == f"), Err(ZkError::Encoding { .. })));
    }
}

//! Validators as values: rules an attribute's configured value must keep, attached to the
//! schema (`Attribute::validator`) rather than written again in each resource's validate.
//! The server checks them before the resource's own validate, with the attribute's path in
//! the diagnostic, and each rule also writes its sentence of the attribute's description, so
//! the allowed values are stated once.

use std::sync::Arc;

use crate::value::Value;

/// What a custom rule says of a value: None when it keeps the rule, else the sentence that
/// says what is wrong. It gets the attribute's name to say it with.
pub type Check = Arc<dyn Fn(&str, &Value) -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub enum Validator {
    /// A string among these.
    OneOf(Vec<String>),
    /// A whole number from `min` to `max`, both included.
    IntRange { min: i64, max: i64 },
    /// A string's characters, or a collection's elements, from `min` to `max`.
    LengthRange { min: usize, max: usize },
    /// A string with something besides whitespace.
    NotBlank,
    /// A rule of the provider's own, with its sentence for the description.
    Custom { description: String, check: Check },
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Two rules are the same when they say the same: a custom rule is known by its description.
impl PartialEq for Validator {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl Validator {
    pub fn one_of(values: &[&str]) -> Self {
        Validator::OneOf(values.iter().map(|v| v.to_string()).collect())
    }

    pub fn int_range(min: i64, max: i64) -> Self {
        Validator::IntRange { min, max }
    }

    pub fn length_range(min: usize, max: usize) -> Self {
        Validator::LengthRange { min, max }
    }

    pub fn not_blank() -> Self {
        Validator::NotBlank
    }

    pub fn custom(description: &str, check: impl Fn(&str, &Value) -> Option<String> + Send + Sync + 'static) -> Self {
        Validator::Custom { description: description.to_string(), check: Arc::new(check) }
    }

    /// What is wrong with `value` for the attribute `name`; None when it keeps the rule, or
    /// is null or not yet known (checked again once it is).
    pub fn check(&self, name: &str, value: &Value) -> Option<String> {
        if value.is_null() || !value.is_wholly_known() {
            return None;
        }
        match self {
            Validator::OneOf(allowed) => {
                let v = value.as_str()?;
                (!allowed.iter().any(|a| a == v)).then(|| format!("{v:?} is not a valid {name}; use {}.", list(allowed)))
            }
            Validator::IntRange { min, max } => match value.as_i64() {
                Some(n) if (*min..=*max).contains(&n) => None,
                Some(n) => Some(format!("{name} must be a whole number from {min} to {max}; got {n}.")),
                None => Some(format!("{name} must be a whole number from {min} to {max}.")),
            },
            Validator::LengthRange { min, max } => {
                let (len, unit) = match (value.as_str(), value.as_elements(), value.as_entries()) {
                    (Some(s), _, _) => (s.chars().count(), "characters"),
                    (_, Some(items), _) => (items.len(), "elements"),
                    (_, _, Some(entries)) => (entries.len(), "entries"),
                    _ => return None,
                };
                (!(*min..=*max).contains(&len)).then(|| format!("{name} must have from {min} to {max} {unit}; it has {len}."))
            }
            Validator::NotBlank => value.as_str().filter(|s| s.trim().is_empty()).map(|_| format!("{name} must not be blank.")),
            Validator::Custom { check, .. } => check(name, value),
        }
    }

    /// The rule as a sentence of the attribute's description.
    pub fn describe(&self) -> String {
        match self {
            Validator::OneOf(allowed) => format!("One of {}.", list(allowed)),
            Validator::IntRange { min, max } => format!("From {min} to {max}."),
            Validator::LengthRange { min, max } => format!("From {min} to {max} long."),
            Validator::NotBlank => "Not blank.".to_string(),
            Validator::Custom { description, .. } => description.clone(),
        }
    }
}

/// `A`, `B` or `C`, as Markdown code.
fn list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_names_the_allowed_values() {
        let v = Validator::one_of(&["STRICT", "PERMISSIVE", "DISABLE"]);
        assert_eq!(v.check("mode", &Value::from("STRICT")), None);
        assert_eq!(
            v.check("mode", &Value::from("DISABLED")).as_deref(),
            Some("\"DISABLED\" is not a valid mode; use `STRICT`, `PERMISSIVE` or `DISABLE`.")
        );
        assert_eq!(v.describe(), "One of `STRICT`, `PERMISSIVE` or `DISABLE`.");
        assert_eq!(v.check("mode", &Value::Null), None, "null is for required to judge");
        assert_eq!(v.check("mode", &Value::Unknown), None, "unknown is judged once known");
    }

    #[test]
    fn ranges_are_inclusive_and_say_what_they_got() {
        let days = Validator::int_range(1, 36_500);
        assert_eq!(days.check("validity_days", &Value::from(1i64)), None);
        assert_eq!(days.check("validity_days", &Value::from(36_500i64)), None);
        assert_eq!(
            days.check("validity_days", &Value::from(0i64)).as_deref(),
            Some("validity_days must be a whole number from 1 to 36500; got 0.")
        );
        let half = Value::Number(crate::value::Number::from_f64(1.5).expect("number"));
        assert!(days.check("validity_days", &half).is_some(), "not whole");
        let names = Validator::length_range(1, 2);
        assert!(names.check("dns_names", &Value::List(vec![])).is_some());
        assert_eq!(names.check("dns_names", &Value::List(vec![Value::from("a")])), None);
        assert_eq!(names.check("name", &Value::from("abc")).as_deref(), Some("name must have from 1 to 2 characters; it has 3."));
    }

    #[test]
    fn a_custom_rule_checks_known_values_and_describes_itself() {
        let v = Validator::custom("A DNS label.", |name, v| {
            v.as_str().filter(|s| s.contains('_')).map(|s| format!("{s:?} is not a valid {name}: no '_'."))
        });
        assert_eq!(v.check("namespace", &Value::from("a_b")).as_deref(), Some("\"a_b\" is not a valid namespace: no '_'."));
        assert_eq!(v.check("namespace", &Value::from("ab")), None, "positive control");
        assert_eq!(v.check("namespace", &Value::Unknown), None, "not known yet: checked again at plan");
        assert_eq!(v.describe(), "A DNS label.");
    }

    #[test]
    fn blank_is_only_whitespace() {
        let v = Validator::not_blank();
        assert_eq!(v.check("common_name", &Value::from(" \t")).as_deref(), Some("common_name must not be blank."));
        assert_eq!(v.check("common_name", &Value::from(" a ")), None);
        assert_eq!(v.check("common_name", &Value::Null), None);
    }

    #[test]
    fn a_block_names_each_broken_rule_once_at_its_path_nested_blocks_too() {
        use crate::schema::{Attribute, Block, NestedBlock, Nesting};
        let listener = Block::new("").attribute(Attribute::string("mode").required().validator(Validator::one_of(&["STRICT"])));
        let block = Block::new("")
            .attribute(Attribute::string("name").optional().validator(Validator::not_blank()).validator(Validator::length_range(1, 3)))
            .block(NestedBlock::new("listener", Nesting::List, listener));
        let config = |name: &str, modes: &[&str]| {
            let listeners = modes.iter().map(|m| Value::object([("mode", Value::from(*m))])).collect();
            Value::object([("name", Value::from(name)), ("listener", Value::List(listeners))])
        };
        let paths =
            |v: &Value| block.validate_values(v).iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>();
        assert!(paths(&config("gw", &["STRICT"])).is_empty(), "positive control");
        assert_eq!(paths(&config("", &["STRICT", "strict"])), ["name", "listener[1].mode"], "empty breaks two rules, named once");
        assert_eq!(block.attribute_named("name").map(Attribute::full_description).as_deref(), Some("Not blank. From 1 to 3 long."));
    }
}

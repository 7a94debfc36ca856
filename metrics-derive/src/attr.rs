//! Parses `#[event(...)]` attributes and `///` doc comments.

use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Path};

use crate::ctxt::Ctxt;

/// A serde-style `rename_all` rule.
#[derive(Clone, Copy)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
}

pub const RENAME_RULES: &str = "\"lowercase\", \"UPPERCASE\", \"PascalCase\", \"camelCase\", \"snake_case\", \"SCREAMING_SNAKE_CASE\"";

impl RenameRule {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "PascalCase" => Self::Pascal,
            "camelCase" => Self::Camel,
            "snake_case" => Self::Snake,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            _ => return None,
        })
    }

    /// Applies the rule to an enum variant name (written in PascalCase).
    pub fn apply_to_variant(self, variant: &str) -> String {
        match self {
            Self::Lower => variant.to_ascii_lowercase(),
            Self::Upper => variant.to_ascii_uppercase(),
            Self::Pascal => variant.to_owned(),
            Self::Camel => lower_first(variant),
            Self::Snake | Self::ScreamingSnake => {
                let mut snake = String::new();
                for (i, ch) in variant.char_indices() {
                    if ch.is_uppercase() && i > 0 {
                        snake.push('_');
                    }
                    snake.extend(ch.to_lowercase());
                }
                if matches!(self, Self::ScreamingSnake) {
                    snake.to_ascii_uppercase()
                } else {
                    snake
                }
            }
        }
    }

    /// Applies the rule to a struct field name (written in snake_case).
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            Self::Lower | Self::Snake => field.to_owned(),
            Self::Upper | Self::ScreamingSnake => field.to_ascii_uppercase(),
            Self::Pascal | Self::Camel => {
                let mut pascal = String::new();
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.extend(ch.to_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                if matches!(self, Self::Camel) {
                    lower_first(&pascal)
                } else {
                    pascal
                }
            }
        }
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `#[event(...)]` on a struct or enum.
#[derive(Default)]
pub struct ContainerAttrs {
    pub rename_all: Option<RenameRule>,
    pub krate: Option<Path>,
}

/// `#[event(...)]` on a field or variant.
#[derive(Default)]
pub struct ItemAttrs {
    pub rename: Option<LitStr>,
}

pub fn container_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut parsed = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let rule: LitStr = meta.value()?.parse()?;
                match RenameRule::parse(&rule.value()) {
                    Some(rule) => parsed.rename_all = Some(rule),
                    None => cx.error_spanned_by(
                        &rule,
                        format_args!(
                            "unknown rename_all rule {:?}: expected one of {RENAME_RULES} \
                             (kebab-case is not allowed: `-` is not valid in Avro names)",
                            rule.value()
                        ),
                    ),
                }
                Ok(())
            } else if meta.path.is_ident("crate") {
                let path: LitStr = meta.value()?.parse()?;
                parsed.krate = Some(path.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown event attribute: expected `rename_all = \"...\"` or `crate = \"...\"`",
                ))
            }
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    parsed
}

pub fn item_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> ItemAttrs {
    let mut parsed = ItemAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                parsed.rename = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown event attribute: expected `rename = \"...\"`"))
            }
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    parsed
}

/// The `///` doc comment, lines joined with `\n`, or `None` when there is none.
pub fn doc(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    let doc = lines.join("\n").trim().to_owned();
    (!doc.is_empty()).then_some(doc)
}

//! The one plist decoder for bytes from the phone or its files (usbmuxd and lockdown messages,
//! pair records, the Photos.sqlite metadata blob).
//!
//! `plist::from_bytes` trusts its input: nesting costs stack depth (and the drop of a deep
//! `Value` recurses), and a binary plist's shared objects are expanded once per reference, so a
//! few KiB can describe an exponential tree. Here the limits are enforced *while* parsing: the
//! size before anything is read, and depth, object count and decoded bytes on every event of
//! plist's streaming readers (both iterative; the binary one rejects reference cycles). The
//! tree is built with an explicit stack, so no recursion depth is chosen by the input, and the
//! result is never deeper than `max_depth` (so its drop recursion is bounded too).

use std::io::Cursor;

use plist::stream::{BinaryReader, Event, OwnedEvent, XmlReader};
use plist::{Dictionary, Value};

/// Bounds for one decode. Every field is a hard limit: exceeding it is an error, not a
/// truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest input accepted at all.
    pub max_input: usize,
    /// Deepest nesting of arrays and dictionaries (the top level counts as 1).
    pub max_depth: usize,
    /// Most values (collections, keys and scalars, shared objects counted per reference).
    pub max_objects: usize,
    /// Most bytes of strings and data, shared objects counted per reference.
    pub max_decoded_bytes: usize,
}

impl Limits {
    /// Protocol messages: real ones are a few KiB, a handful of levels and a few hundred values.
    pub(crate) const MESSAGE: Limits = Limits {
        max_input: 1 << 20,
        max_depth: 32,
        max_objects: 100_000,
        max_decoded_bytes: 4 << 20,
    };
}

/// Why untrusted bytes were not accepted as a plist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlistError {
    #[error("plist of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("plist nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("plist holds more than {max} values (counting shared objects once per use)")]
    TooManyObjects { max: usize },
    #[error("plist expands to more than {max} bytes of strings and data")]
    TooMuchData { max: usize },
    #[error("not a valid plist: {0}")]
    Malformed(String),
    #[error("the plist's top level is not a dictionary")]
    NotADictionary,
}

/// Decode an XML or binary plist within `limits`.
pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<Value, PlistError> {
    if bytes.len() > limits.max_input {
        return Err(PlistError::TooLarge {
            len: bytes.len(),
            max: limits.max_input,
        });
    }
    if bytes.starts_with(b"bplist00") {
        build(BinaryReader::new(Cursor::new(bytes)), limits)
    } else {
        build(XmlReader::new(Cursor::new(bytes)), limits)
    }
}

/// Decode a plist whose top level must be a dictionary.
pub(crate) fn decode_dict(bytes: &[u8], limits: &Limits) -> Result<Dictionary, PlistError> {
    decode(bytes, limits)?
        .into_dictionary()
        .ok_or(PlistError::NotADictionary)
}

/// A collection being filled.
enum Open {
    Array(Vec<Value>),
    /// A dictionary and the key read for its next value, if any.
    Dict(Dictionary, Option<String>),
}

impl Open {
    fn close(self) -> Result<Value, PlistError> {
        match self {
            Open::Array(items) => Ok(Value::Array(items)),
            Open::Dict(d, None) => Ok(Value::Dictionary(d)),
            Open::Dict(_, Some(_)) => Err(malformed("a dictionary key has no value")),
        }
    }
}

/// Build a `Value` from a stream of events with an explicit stack, counting as it goes.
fn build<I>(events: I, limits: &Limits) -> Result<Value, PlistError>
where
    I: Iterator<Item = Result<OwnedEvent, plist::Error>>,
{
    let mut stack: Vec<Open> = Vec::new();
    let mut objects = 0usize;
    let mut bytes = 0usize;
    for event in events {
        let event = event.map_err(|e| malformed(&describe(&e)))?;
        objects += 1;
        if objects > limits.max_objects {
            return Err(PlistError::TooManyObjects {
                max: limits.max_objects,
            });
        }
        let finished = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if stack.len() >= limits.max_depth {
                    return Err(PlistError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                stack.push(match event {
                    Event::StartArray(_) => Open::Array(Vec::new()),
                    _ => Open::Dict(Dictionary::new(), None),
                });
                None
            }
            Event::EndCollection => {
                let closed = stack.pop().ok_or_else(|| malformed("unbalanced end"))?;
                place(&mut stack, closed.close()?)?
            }
            scalar => {
                bytes = bytes.saturating_add(scalar_len(&scalar));
                if bytes > limits.max_decoded_bytes {
                    return Err(PlistError::TooMuchData {
                        max: limits.max_decoded_bytes,
                    });
                }
                place(&mut stack, scalar_value(scalar)?)?
            }
        };
        if let Some(root) = finished {
            // Anything after the top-level value is not read: it cannot change the answer.
            return Ok(root);
        }
    }
    Err(malformed(if stack.is_empty() {
        "no value"
    } else {
        "truncated"
    }))
}

/// Put a finished value into the open collection; returns it if it was the top level.
fn place(stack: &mut [Open], value: Value) -> Result<Option<Value>, PlistError> {
    match stack.last_mut() {
        None => Ok(Some(value)),
        Some(Open::Array(items)) => {
            items.push(value);
            Ok(None)
        }
        Some(Open::Dict(d, key)) => {
            match key.take() {
                Some(k) => {
                    d.insert(k, value);
                }
                None => match value {
                    Value::String(k) => *key = Some(k),
                    _ => return Err(malformed("a dictionary key is not a string")),
                },
            }
            Ok(None)
        }
    }
}

fn scalar_len(event: &OwnedEvent) -> usize {
    match event {
        Event::Data(d) => d.len(),
        Event::String(s) => s.len(),
        _ => 0,
    }
}

fn scalar_value(event: OwnedEvent) -> Result<Value, PlistError> {
    Ok(match event {
        Event::Boolean(b) => Value::Boolean(b),
        Event::Data(d) => Value::Data(d.into_owned()),
        Event::Date(d) => Value::Date(d),
        Event::Integer(i) => Value::Integer(i),
        Event::Real(r) => Value::Real(r),
        Event::String(s) => Value::String(s.into_owned()),
        Event::Uid(u) => Value::Uid(u),
        _ => return Err(malformed("unsupported plist element")),
    })
}

/// plist's errors display the Debug form of an internal enum ("ExpectedEndOfEventStream {
/// found: String } (offset 12)"); users get words ("expected end of event stream at offset 12").
fn describe(e: &plist::Error) -> String {
    let raw = e.to_string();
    let (kind, position) = match raw.find(" (offset ") {
        Some(i) => (&raw[..i], raw[i..].trim_matches([' ', '(', ')'])),
        None => (raw.as_str(), ""),
    };
    let name = kind.split(['{', '(']).next().unwrap_or("").trim();
    let mut words = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    if words.is_empty() {
        words.push_str("unreadable plist");
    }
    if !position.is_empty() {
        words.push_str(" at ");
        words.push_str(position);
    }
    words
}

fn malformed(what: &str) -> PlistError {
    PlistError::Malformed(what.to_string())
}

#[cfg(test)]
mod tests;

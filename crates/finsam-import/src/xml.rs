//! A small element tree read with quick-xml, with the guards a file from outside needs: UTF-8
//! only, no DOCTYPE (so no entity of the file's own — the billion laughs and XXE attacks — is
//! ever declared, let alone expanded), a bounded depth and element count, and every element's
//! line for the messages.

use crate::Problem;
use quick_xml::events::Event;
use quick_xml::Reader;

const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 2_000_000;

pub struct Element {
    /// The local name (without a namespace prefix).
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<usize>,
    pub line: usize,
}

pub struct Tree {
    pub elements: Vec<Element>,
}

impl Tree {
    pub fn root(&self) -> &Element {
        &self.elements[0]
    }

    pub fn children<'a>(&'a self, e: &'a Element) -> impl Iterator<Item = &'a Element> + 'a {
        e.children.iter().map(|i| &self.elements[*i])
    }

    /// The first child with this local name.
    pub fn child<'a>(&'a self, e: &'a Element, name: &str) -> Option<&'a Element> {
        self.children(e).find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn all<'a>(&'a self, e: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children(e).filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path<'a>(&'a self, e: &'a Element, path: &[&str]) -> Option<&'a Element> {
        path.iter().try_fold(e, |at, name| self.child(at, name))
    }

    /// The text at a path of child names, trimmed; `None` if absent or empty.
    pub fn text(&self, e: &Element, path: &[&str]) -> Option<String> {
        self.path(e, path).map(|x| x.text.trim().to_string()).filter(|t| !t.is_empty())
    }
}

impl Element {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count()
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => name.to_string(),
    }
}

/// Reads a whole XML document into a tree, or says where and why it cannot.
pub fn parse(bytes: &[u8]) -> Result<Tree, Problem> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = line_of(bytes, e.valid_up_to());
        return Err(Problem::new(
            format!("rad {line}"),
            "teckenkodning",
            format!("byte {}", e.valid_up_to() + 1),
            "en ISO 20022-fil är UTF-8; den här är det inte (kanske ISO 8859-1 eller Windows-1252)",
        ));
    }
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().expand_empty_elements = true;
    let mut elements: Vec<Element> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut buf = Vec::new();
    let mut closed_root = false;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            let line = line_of(bytes, reader.error_position() as usize);
            Problem::new(format!("rad {line}"), "XML", "", format!("filen är inte välformad XML: {e}"))
        })?;
        let line = line_of(bytes, at);
        match event {
            Event::DocType(_) => {
                return Err(Problem::new(
                    format!("rad {line}"),
                    "DOCTYPE",
                    "",
                    "en bankfil har ingen DOCTYPE; en fil som deklarerar egna entiteter (XXE, \"billion laughs\") läses inte",
                ))
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = enc.to_string();
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return Err(Problem::new(
                            format!("rad {line}"),
                            "encoding",
                            enc,
                            "en ISO 20022-fil är UTF-8",
                        ));
                    }
                }
            }
            Event::Start(s) => {
                if closed_root {
                    return Err(Problem::new(format!("rad {line}"), "XML", "", "filen har mer än ett rotelement"));
                }
                if stack.len() >= MAX_DEPTH || elements.len() >= MAX_ELEMENTS {
                    return Err(Problem::new(
                        format!("rad {line}"),
                        "XML",
                        "",
                        format!("filen är djupare än {MAX_DEPTH} nivåer eller har fler än {MAX_ELEMENTS} element"),
                    ));
                }
                let mut attributes = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| Problem::new(format!("rad {line}"), "attribut", "", format!("{e}")))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| Problem::new(format!("rad {line}"), "attribut", "", format!("{e}")))?;
                    attributes.push((local(a.key.as_ref()), value.to_string()));
                }
                let index = elements.len();
                elements.push(Element {
                    name: local(s.name().as_ref()),
                    attributes,
                    text: String::new(),
                    children: Vec::new(),
                    line,
                });
                if let Some(parent) = stack.last() {
                    elements[*parent].children.push(index);
                }
                stack.push(index);
            }
            Event::End(_) => {
                stack.pop();
                if stack.is_empty() {
                    closed_root = true;
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last() {
                    elements[*open].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let Some(open) = stack.last().copied() else { continue };
                match r.resolve_char_ref() {
                    Ok(Some(c)) => elements[open].text.push(c),
                    _ => {
                        let name = r.to_string();
                        let c = match name.as_str() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => {
                                return Err(Problem::new(
                                    format!("rad {line}"),
                                    "entitet",
                                    format!("&{name};"),
                                    "bara XML:s egna entiteter (&amp; &lt; &gt; &quot; &apos;) läses",
                                ))
                            }
                        };
                        elements[open].text.push(c);
                    }
                }
            }
            Event::CData(c) => {
                if let Some(open) = stack.last() {
                    elements[*open].text.push_str(&c.xml10_content());
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() || elements.is_empty() {
        let line = line_of(bytes, bytes.len());
        return Err(Problem::new(
            format!("rad {line}"),
            "XML",
            "",
            "filen tar slut innan dess element är stängda: den är avkortad",
        ));
    }
    Ok(Tree { elements })
}

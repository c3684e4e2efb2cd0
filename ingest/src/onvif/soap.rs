//! SOAP 1.2 envelopes for ONVIF requests and the reading of replies and faults. Pure.
//!
//! ONVIF speaks SOAP 1.2 over HTTP POST (ONVIF Core §5, "Web services framework"; W3C SOAP 1.2
//! Part 2 §7 for the HTTP binding: `Content-Type: application/soap+xml; action="..."`). Replies
//! are read by local element name, ignoring prefixes and namespaces, because vendors bind the
//! same namespaces to many prefixes (`SOAP-ENV`, `s`, `env`, default) and a few old firmwares
//! answer SOAP 1.1 envelopes.

use roxmltree::{Document, Node};

use super::error::OnvifError;

/// Namespaces declared on every request envelope, so bodies can use the usual prefixes.
const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope""#,
    r#" xmlns:tds="http://www.onvif.org/ver10/device/wsdl""#,
    r#" xmlns:trt="http://www.onvif.org/ver10/media/wsdl""#,
    r#" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl""#,
    r#" xmlns:tt="http://www.onvif.org/ver10/schema">"#
);

/// A request envelope: `security` is the `wsse:Security` header or empty, `body` the operation
/// element (e.g. `<tds:GetSystemDateAndTime/>`).
pub fn envelope(security: &str, body: &str) -> String {
    let mut s = String::with_capacity(ENVELOPE_OPEN.len() + security.len() + body.len() + 64);
    s.push_str(ENVELOPE_OPEN);
    if !security.is_empty() {
        s.push_str("<s:Header>");
        s.push_str(security);
        s.push_str("</s:Header>");
    }
    s.push_str("<s:Body>");
    s.push_str(body);
    s.push_str("</s:Body></s:Envelope>");
    s
}

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A SOAP fault read from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The most specific code: the innermost `Subcode/Value` (`ter:NotAuthorized`), else
    /// `Code/Value` (`env:Sender`); SOAP 1.1 `faultcode` for old firmware.
    pub code: String,
    /// `Reason/Text` (SOAP 1.2) or `faultstring` (SOAP 1.1), trimmed; may be empty.
    pub reason: String,
}

/// The fault in a reply, if the body holds one (SOAP 1.2 Part 1 §5.4; SOAP 1.1 §4.4). `None` for
/// text that is not XML or holds no `Fault` element.
pub fn parse_fault(xml: &str) -> Option<Fault> {
    let doc = Document::parse(xml).ok()?;
    let fault = doc.descendants().find(|n| is(n, "Fault"))?;
    // SOAP 1.2: Code/Value with nested Subcode/Value.
    let mut code = None;
    if let Some(mut c) = child(fault, "Code") {
        loop {
            if let Some(v) = child(c, "Value").and_then(text) {
                code = Some(v);
            }
            match child(c, "Subcode") {
                Some(sub) => c = sub,
                None => break,
            }
        }
    }
    let code = code
        .or_else(|| child(fault, "faultcode").and_then(text))
        .unwrap_or_default();
    let reason = child(fault, "Reason")
        .and_then(|r| child(r, "Text"))
        .and_then(text)
        .or_else(|| child(fault, "faultstring").and_then(text))
        .unwrap_or_default();
    Some(Fault { code, reason })
}

/// Parses a reply and finds the response element `name` (e.g. `GetProfilesResponse`) anywhere in
/// it. A reply without it is a `Parse` error naming `action`.
pub fn with_response<T>(
    action: &'static str,
    xml: &str,
    name: &str,
    read: impl FnOnce(Node<'_, '_>) -> Result<T, OnvifError>,
) -> Result<T, OnvifError> {
    let doc = Document::parse(xml).map_err(|e| OnvifError::Parse {
        action,
        message: format!("not XML: {e}"),
    })?;
    let resp = doc
        .descendants()
        .find(|n| is(n, name))
        .ok_or_else(|| OnvifError::Parse {
            action,
            message: format!("no {name} element in the reply"),
        })?;
    read(resp)
}

/// Whether `n` is an element with local name `name`.
pub fn is(n: &Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name
}

/// The first child element with local name `name`.
pub fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(c, name))
}

/// Every child element with local name `name`.
pub fn children<'a, 'i: 'a>(
    n: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(c, name))
}

/// The trimmed text of an element; `None` when empty.
pub fn text(n: Node<'_, '_>) -> Option<String> {
    let t: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The text of the child `name`, if present and not empty.
pub fn child_text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).and_then(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_innermost_subcode_and_reason_of_a_soap12_fault() {
        let xml = r#"<?xml version="1.0"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
 <env:Body><env:Fault>
  <env:Code><env:Value>env:Sender</env:Value>
   <env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>
  <env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>
 </env:Fault></env:Body></env:Envelope>"#;
        assert_eq!(
            parse_fault(xml),
            Some(Fault {
                code: "ter:NotAuthorized".into(),
                reason: "Sender not Authorized".into()
            })
        );
    }

    #[test]
    fn reads_nested_subcodes_to_the_deepest() {
        let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>
<s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value>
<s:Subcode><s:Value>ter:NoSuchService</s:Value></s:Subcode></s:Subcode></s:Code>
<s:Reason><s:Text xml:lang="en">no</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#;
        let f = parse_fault(xml).expect("a fault");
        assert_eq!(f.code, "ter:NoSuchService");
        assert_eq!(f.reason, "no");
    }

    #[test]
    fn reads_soap11_faults_from_old_firmware() {
        let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>
<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>Authority failure</faultstring></SOAP-ENV:Fault>
</SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let f = parse_fault(xml).expect("a fault");
        assert_eq!(f.code, "SOAP-ENV:Client");
        assert_eq!(f.reason, "Authority failure");
    }

    #[test]
    fn a_normal_reply_or_non_xml_has_no_fault() {
        assert_eq!(parse_fault("<a><b/></a>"), None);
        assert_eq!(parse_fault("<html>401 Unauthorized"), None);
    }

    #[test]
    fn envelope_has_header_only_with_security() {
        let plain = envelope("", "<tds:GetSystemDateAndTime/>");
        assert!(!plain.contains("Header"));
        assert!(Document::parse(&plain).is_ok(), "{plain}");
        let secured = envelope("<x/>", "<tds:GetSystemDateAndTime/>");
        assert!(secured.contains("<s:Header><x/></s:Header><s:Body>"));
    }

    #[test]
    fn missing_response_element_is_a_parse_error_naming_the_action() {
        let e = with_response("GetProfiles", "<a/>", "GetProfilesResponse", |_| Ok(()))
            .expect_err("no response element");
        assert!(
            matches!(
                e,
                OnvifError::Parse {
                    action: "GetProfiles",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("GetProfilesResponse"), "{e}");
    }

    #[test]
    fn escapes_markup_in_text() {
        assert_eq!(xml_escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}

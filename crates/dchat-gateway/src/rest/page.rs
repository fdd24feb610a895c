//! A page of history as JSON, written straight into one buffer of its size.
//!
//! Pages are the API's largest bodies and, in the seed's workload, a third of its requests.
//! serde_json looks at every byte of every string through its escape table, about 14
//! instructions a byte under callgrind, and axum's `Json` starts at 128 bytes and copies
//! the page each time its buffer doubles: together a quarter of a list request's cost.
//! Here a string that needs no escaping (ids are UUIDs, most texts are plain) is checked in
//! one pass the compiler vectorizes and copied whole; one that does need escaping goes
//! through serde_json. So the output is byte for byte what serde_json writes for the
//! derived `Serialize` of [`MessagesView`], which the tests check.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    dto::{MessageView, MessagesView},
    error::ApiError,
};

/// Bytes of a message's JSON besides its strings: keys, numbers, quotes and commas.
const BYTES_PER_MESSAGE: usize = 110;

impl MessagesView {
    /// The page's JSON: `{"messages":[{"offset":..,"ts_ms":..,"user_id":..,...},...]}`.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(self.json_len());
        out.extend_from_slice(br#"{"messages":["#);
        for (index, message) in self.messages.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_message(&mut out, message)?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// The page's length in JSON, near enough to size its buffer: its strings exactly (when
    /// none needs escaping), an allowance for the rest that everyday numbers fit in.
    fn json_len(&self) -> usize {
        let strings = |message: &MessageView| {
            message.user_id.len()
                + message.display_name.len()
                + message.username.len()
                + message.text.len()
                + message.client_id.as_ref().map_or(0, |key| key.len() + r#","client_id":"""#.len())
                + if message.bot { r#","bot":true"#.len() } else { 0 }
        };
        16 + self.messages.iter().map(|message| BYTES_PER_MESSAGE + strings(message)).sum::<usize>()
    }
}

/// One message, its fields in the order of `MessageView`'s declaration, as serde writes them.
fn write_message(out: &mut Vec<u8>, message: &MessageView) -> Result<(), serde_json::Error> {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(br#"{"offset":"#);
    out.extend_from_slice(numbers.format(message.offset).as_bytes());
    out.extend_from_slice(br#","ts_ms":"#);
    out.extend_from_slice(numbers.format(message.ts_ms).as_bytes());
    out.extend_from_slice(br#","user_id":"#);
    write_str(out, &message.user_id)?;
    out.extend_from_slice(br#","display_name":"#);
    write_str(out, &message.display_name)?;
    out.extend_from_slice(br#","username":"#);
    write_str(out, &message.username)?;
    if message.bot {
        out.extend_from_slice(br#","bot":true"#);
    }
    out.extend_from_slice(br#","text":"#);
    write_str(out, &message.text)?;
    if let Some(key) = &message.client_id {
        out.extend_from_slice(br#","client_id":"#);
        write_str(out, key)?;
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string. JSON must escape the quote, the backslash and the control characters
/// below U+0020; serde_json escapes exactly those, so a string without them is copied as is.
fn write_str(out: &mut Vec<u8>, value: &str) -> Result<(), serde_json::Error> {
    // A fold without early exit, so that it compiles to a vector loop.
    let needs_escaping = value.bytes().fold(false, |any, byte| any | (byte < 0x20) | (byte == b'"') | (byte == b'\\'));
    if needs_escaping {
        return serde_json::to_writer(out, value);
    }
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
    Ok(())
}

impl IntoResponse for MessagesView {
    fn into_response(self) -> Response {
        match self.to_json() {
            Ok(body) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            Err(err) => {
                // Writing strings and integers into memory does not fail; if it ever did,
                // the client gets a plain 500 and the log says why.
                tracing::error!(error = %err, "failed to write a page of messages as JSON");
                ApiError::Internal.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(offset: i64, display_name: &str, text: &str, client_id: Option<&str>) -> MessageView {
        MessageView {
            offset,
            ts_ms: offset.wrapping_add(1_764_000_000_000),
            user_id: "5f0c2a52-58d8-4a8e-9a8e-0c7d7c1f4b10".to_owned(),
            display_name: display_name.to_owned(),
            username: display_name.to_owned(),
            // Every other message is a bot's, so that both shapes are compared.
            bot: offset % 2 == 0,
            text: text.to_owned(),
            client_id: client_id.map(str::to_owned),
        }
    }

    /// Every kind of string JSON treats differently, in every field that holds text.
    #[test]
    fn writes_what_serde_json_writes() {
        let awkward = [
            "",
            "plain",
            "a \"quoted\" word",
            r"back\slash",
            "line\nbreak\tand tab\r",
            "\u{0}\u{1}\u{1f} control",
            "\u{7f} delete is not escaped",
            "héllo wörld 🙂 日本語",
            "</script><!--",
            "\u{2028}\u{2029} separators",
        ];
        let mut messages = Vec::new();
        for (offset, text) in (1..).zip(awkward) {
            messages.push(message(offset, text, text, None));
            messages.push(message(offset + 100, "Ann", text, Some(text)));
        }
        messages.push(message(i64::MAX, "", "", Some("")));
        messages.push(message(-1, "", "", None));
        for page in [MessagesView { messages: Vec::new() }, MessagesView { messages }] {
            let expected = serde_json::to_vec(&page).expect("serde writes the page");
            assert_eq!(
                String::from_utf8(page.to_json().expect("writes")).expect("UTF-8"),
                String::from_utf8(expected).expect("UTF-8")
            );
        }
    }

    /// For plain strings and everyday numbers the estimate is enough: the page is written
    /// without its buffer growing.
    #[test]
    fn a_plain_page_fits_its_estimate() {
        let page = MessagesView {
            messages: (1..=50).map(|offset| message(offset, "Ann Example", "hello there", Some("k-1"))).collect(),
        };
        let json = page.to_json().expect("writes");
        assert!(json.len() <= page.json_len(), "{} bytes written, {} estimated", json.len(), page.json_len());
    }
}

//! The OpenAI chat-completions SSE decoder on arbitrary bytes from the model server, fed in
//! pieces of arbitrary sizes: must never panic, must keep within its bounds, and must decode
//! the same whatever the pieces (the network may cut a stream anywhere).
//!
//! Input layout: the first byte says how many piece sizes follow (1 to 8); each size byte is a
//! piece of 1 to 256 bytes, used in turn; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::agent::openai::stream::{
    MAX_CALL_BYTES, MAX_TEXT_BYTES, MAX_TOOL_CALLS, StreamDecoder, StreamError, Turn,
};

/// The stream's text deltas joined and its turn, or the first error.
fn decode<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Result<(String, Turn), StreamError> {
    let mut decoder = StreamDecoder::new();
    let mut texts = String::new();
    for piece in pieces {
        decoder.push(piece);
        while let Some(text) = decoder.next_text()? {
            assert!(!text.is_empty(), "a text delta is never empty");
            texts.push_str(&text);
        }
    }
    decoder.finish().map(|turn| (texts, turn))
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 8) + 1;
    let (sizes, stream) = rest.split_at(count.min(rest.len()));
    let sizes: Vec<usize> = if sizes.is_empty() {
        vec![1]
    } else {
        sizes.iter().map(|s| usize::from(*s) + 1).collect()
    };
    let mut pieces = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let end = (at + size).min(stream.len());
        pieces.push(&stream[at..end]);
        at = end;
    }

    let in_pieces = decode(pieces.iter().copied());
    if let Ok((texts, turn)) = &in_pieces {
        assert_eq!(texts, &turn.text, "the deltas make up the reply");
        assert!(turn.text.len() <= MAX_TEXT_BYTES);
        assert!(turn.calls.len() <= MAX_TOOL_CALLS);
        for (i, call) in turn.calls.iter().enumerate() {
            assert!(!call.id.is_empty(), "call {i} has an id");
            assert!(call.name.len() + call.arguments.len() <= MAX_CALL_BYTES);
        }
    }
    let whole = decode(std::iter::once(stream));
    assert_eq!(
        in_pieces, whole,
        "the same stream in one piece decodes the same"
    );
});

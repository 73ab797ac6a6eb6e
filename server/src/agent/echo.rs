//! The echo agent: replies with the user's message verbatim, one `chat` event per word (the
//! deltas joined give the message back exactly), counts words as tokens, and runs
//! `/tool NAME {json}` through the built-in tools.

use std::time::Duration;

use serde_json::Value;

use super::tools;
use super::{AgentError, RunOutput};

/// The echo agent.
#[derive(Debug, Clone)]
pub struct EchoAgent {
    /// Pause between words (`agents.<id>.chunk_delay_ms`).
    chunk_delay: Duration,
}

impl EchoAgent {
    /// An echo agent pausing `chunk_delay` between words.
    pub fn new(chunk_delay: Duration) -> EchoAgent {
        EchoAgent { chunk_delay }
    }

    pub(super) async fn run(&self, message: &str, out: &mut RunOutput) -> Result<(), AgentError> {
        #[cfg(debug_assertions)]
        if message == PANIC_MESSAGE && PANIC_ARMED.load(std::sync::atomic::Ordering::Relaxed) {
            panic!("failpoint: the echo agent panics");
        }
        out.usage.input_tokens = count_words(message);
        let reply = match message.trim_start().strip_prefix("/tool ") {
            Some(command) => run_tool(command, out).await?,
            None => message.to_owned(),
        };
        for (i, word) in words(&reply).enumerate() {
            if i > 0 && !self.chunk_delay.is_zero() {
                tokio::time::sleep(self.chunk_delay).await;
            }
            out.delta(word).await?;
        }
        out.usage.output_tokens = count_words(&reply);
        Ok(())
    }
}

/// Fault injection for the test suite, in debug builds only: once [`arm_panic_failpoint`] was
/// called in the process, a message that is exactly this makes the echo agent panic, as a bug
/// would.
#[cfg(debug_assertions)]
pub const PANIC_MESSAGE: &str = "/failpoint panic";
#[cfg(debug_assertions)]
static PANIC_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Arms the echo agent's panic failpoint (debug builds only; see [`PANIC_MESSAGE`]).
#[cfg(debug_assertions)]
pub fn arm_panic_failpoint() {
    PANIC_ARMED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `NAME {json}` → runs the tool, emits `tool.call` and `tool.result`, returns the reply.
async fn run_tool(command: &str, out: &RunOutput) -> Result<String, AgentError> {
    let command = command.trim();
    let (name, input) = match command.split_once(char::is_whitespace) {
        Some((name, input)) => (name, input.trim()),
        None => (command, ""),
    };
    let call_id = format!("call_{}", random_hex(8));
    let input_value = if input.is_empty() {
        Ok(Value::Object(Default::default()))
    } else {
        serde_json::from_str::<Value>(input)
    };
    let (input_value, result) = match input_value {
        Ok(value) => {
            let result = tools::run_builtin(name, &value);
            (value, result)
        }
        Err(e) => (
            Value::String(input.to_owned()),
            Err(format!("input is not JSON: {e}")),
        ),
    };
    out.tool_call(&call_id, name, &input_value).await?;
    let (output, is_error) = match result {
        Ok(output) => (output, false),
        Err(message) => (Value::String(message), true),
    };
    out.tool_result(&call_id, name, &output, is_error).await?;
    Ok(match output {
        Value::String(text) if is_error => format!("error: {text}"),
        Value::String(text) => text,
        other => other.to_string(),
    })
}

/// Splits `text` into words, each with the whitespace that precedes the next word; the pieces
/// joined give `text` back exactly.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let leading = rest.len() - rest.trim_start().len();
        let after_word = rest[leading..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| leading + i);
        let end = rest[after_word..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| after_word + i);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

/// Words in `text` (the echo agent's token count).
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_join_back_to_the_text_exactly() {
        for text in [
            "hello world",
            "  lead and trail  ",
            "one",
            "a\n\tb  c",
            "",
            "   ",
        ] {
            let pieces: Vec<&str> = words(text).collect();
            assert_eq!(pieces.concat(), text);
            assert_eq!(
                pieces.len() as u64,
                count_words(text)
                    .max(u64::from(!text.is_empty()))
                    .min(pieces.len() as u64)
            );
        }
        assert_eq!(
            words("hello big world").collect::<Vec<_>>(),
            ["hello ", "big ", "world"]
        );
    }
}

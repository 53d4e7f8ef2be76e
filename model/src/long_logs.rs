//! How the model reads a log longer than its context.
//!
//! A log that does not fit is read in windows that enter it at every half context from
//! its begin-of-log token, in training, scoring and generation alike, so the model is
//! asked to continue a log only from windows it was trained on. A window that enters a
//! log past its start would lose the log's header: a 2 KB Entra ID sign-in read by a
//! model of 1,024 bytes reaches its `UserPrincipalName` no longer knowing whose sign-in
//! it is writing, from which country or for which ATT&CK technique. A text format that
//! pins headers ([`TextFormat::pin_header`](operators::text_format::TextFormat::pin_header))
//! starts such a window with the log's begin-of-log token and header, then the log from
//! the entry on: the conditioning is in view for every byte. The targets of the pinned
//! prefix, and the first byte after it (the entry cuts the log anywhere), are not
//! trained on or scored.
//!
//! Window `k` holds the log's tokens from `k` half contexts on: a whole context (plus the
//! one token only ever a target) from the start for `k = 0`, that less the pin after.
//! A log has as many windows as it takes for one to reach its end ([`entries`]);
//! generation moves to window `k + 1` when the log outgrows window `k`.

use crate::tokenizer::Special;

/// Tokens of the pinned prefix of a framed log (`log[0]` its begin-of-log token): the
/// begin-of-log token and the header through its closing `] `. `None` when `log` does
/// not start with a complete header.
pub fn header_prefix_len<T: Copy + Into<u32>>(log: &[T]) -> Option<usize> {
    let begin = Special::BeginLog as u32;
    if log.first().map(|&token| token.into()) != Some(begin) {
        return None;
    }
    // Header values hold neither `]` nor a space, so the first `] ` ends the header.
    log.windows(2)
        .position(|pair| pair[0].into() == u32::from(b']') && pair[1].into() == u32::from(b' '))
        .map(|index| index + 2)
}

/// The prefix to pin for a window of `context` tokens, when it leaves the window room to
/// move on: a prefix of half a context or more is not pinned (no header is that long at
/// the contexts in use; a window must keep its overlap and still score new bytes).
pub fn pinnable(prefix: Option<usize>, context: usize) -> usize {
    prefix.filter(|&len| len < context / 2).unwrap_or(0)
}

/// How far each window enters a long log past the one before: half a context.
pub fn stride(context: usize) -> usize {
    (context / 2).max(1)
}

/// Tokens of the log window `k` holds (its last one a target only), with `pinned`
/// tokens pinned before it past the start.
pub fn body(k: usize, pinned: usize, context: usize) -> usize {
    match k {
        0 => context + 1,
        _ => context + 1 - pinned,
    }
}

/// The windows a framed log of `len` tokens is read in: the one from its start, then
/// one at each half context until one reaches its end.
pub fn entries(len: usize, pinned: usize, context: usize) -> usize {
    let mut k = 0;
    while k * stride(context) + body(k, pinned, context) < len {
        k += 1;
    }
    k + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ByteTokenizer;

    fn framed(text: &str) -> Vec<u32> {
        let mut tokens = vec![Special::BeginLog as u32];
        tokens.extend(ByteTokenizer.encode(text));
        tokens
    }

    #[test]
    fn the_prefix_runs_through_the_headers_closing_bracket_and_space() {
        let log = framed(r#"[azure u=a@x c=DE] {"k":"] "}"#);
        assert_eq!(
            header_prefix_len(&log),
            Some(1 + "[azure u=a@x c=DE] ".len())
        );
        let as_u16: Vec<u16> = log.iter().map(|&t| t as u16).collect();
        assert_eq!(header_prefix_len(&as_u16), header_prefix_len(&log));
        assert_eq!(header_prefix_len(&log[1..]), None, "no begin-of-log token");
        assert_eq!(header_prefix_len(&framed("[azure u=a@x")), None);
        assert_eq!(pinnable(Some(20), 64), 20);
        assert_eq!(pinnable(Some(32), 64), 0);
        assert_eq!(pinnable(None, 64), 0);
    }

    #[test]
    fn windows_enter_at_every_half_context_until_one_reaches_the_end() {
        // Context 8, stride 4, pin 2: window 0 holds tokens 0..9, window 1 4..11, 2 8..15.
        assert_eq!(entries(9, 2, 8), 1);
        assert_eq!(entries(10, 2, 8), 2);
        assert_eq!(entries(11, 2, 8), 2);
        assert_eq!(entries(12, 2, 8), 3);
        assert_eq!(entries(10, 0, 8), 2);
        assert_eq!(entries(13, 0, 8), 2);
        assert_eq!(entries(14, 0, 8), 3);
        for (len, pinned) in [(9, 2), (40, 3), (41, 0), (300, 3)] {
            let last = entries(len, pinned, 8) - 1;
            assert!(last * stride(8) + body(last, pinned, 8) >= len, "{len}");
        }
    }
}

//! cyberlm's language model. Today it holds the byte tokenizer that training, scoring and
//! generation will share; the burn GPT, its training loop, scoring and sampling arrive
//! with issue [3/7].
//!
//! ```
//! let tokenizer = model::ByteTokenizer;
//! let ids = tokenizer.encode("{\"Location\":\"DE\"}");
//! assert_eq!(tokenizer.decode(&ids).unwrap(), "{\"Location\":\"DE\"}");
//! ```
#![deny(missing_docs)]

mod tokenizer;

pub use tokenizer::{ByteTokenizer, Special, TokenizerError};

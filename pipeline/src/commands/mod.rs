//! One module per `cyberlm` command.

pub mod demo;
pub mod detect;
pub mod record;
pub mod replay;
pub mod simulate;
pub mod topics;

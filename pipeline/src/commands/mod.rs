//! One module per `cyberlm` command.

pub mod bench_model;
pub mod calibrate;
pub mod demo;
pub mod detect;
pub mod eval;
pub mod generate;
pub mod publish;
pub mod record;
pub mod replay;
pub mod retrain;
pub mod scenario;
pub mod score;
pub mod simulate;
pub mod topics;
pub mod train;

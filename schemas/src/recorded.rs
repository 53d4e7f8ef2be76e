//! The Arrow schema of recorded logs, as cyberlm writes them to Parquet.

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// Column names of a recorded-logs table.
pub mod columns {
    /// Source name (`azure`, `confluence`, `cloudtrail`).
    pub const SOURCE: &str = "source";
    /// Event time, UTC milliseconds; null for a log that did not decode.
    pub const EVENT_TIME: &str = "event_time";
    /// The acting user, when known.
    pub const USER: &str = "user";
    /// The event id, when the log decoded.
    pub const EVENT_ID: &str = "event_id";
    /// The raw log, exactly as received (JSON text, key order preserved).
    pub const LOG: &str = "log";
}

/// Recorded logs: one row a log, the raw text kept whole so nothing about it is lost,
/// plus the decoded columns for filtering (by time range, user or source).
pub fn recorded_logs_schema() -> Schema {
    Schema::new(vec![
        Field::new(columns::SOURCE, DataType::Utf8, false),
        Field::new(
            columns::EVENT_TIME,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new(columns::USER, DataType::Utf8, true),
        Field::new(columns::EVENT_ID, DataType::Utf8, true),
        Field::new(columns::LOG, DataType::Utf8, false),
    ])
}

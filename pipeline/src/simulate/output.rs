//! Writing a simulation out: one time-ordered JSONL file per source, the labels, and the
//! roster of simulated people.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use schemas::Source;
use serde::Serialize;

use super::{Record, Simulation};

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Events per source, in [`Source::ALL`] order.
    pub events: Vec<(String, usize)>,
    /// Total bytes of the three source files.
    pub bytes: u64,
    /// Labelled events.
    pub labelled: usize,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl Summary {
    /// All events.
    pub fn total_events(&self) -> usize {
        self.events.iter().map(|(_, n)| n).sum()
    }
}

/// Writes `simulation` into `dir` (created if needed): `azure.jsonl`, `confluence.jsonl`,
/// `cloudtrail.jsonl` (each sorted by event time), `labels.jsonl` (event id → scenario,
/// technique), `users.jsonl`, and `anticipated.toml` (the trip, as the organisation
/// knows it in advance: the anticipated-events file of `cyberlm retrain`).
pub fn write_corpus(simulation: &mut Simulation, dir: &Path) -> std::io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    simulation
        .records
        .sort_by_key(|record| (record.time, record.seq));
    let mut summary = Summary {
        events: Vec::new(),
        bytes: 0,
        labelled: 0,
        files: Vec::new(),
    };
    let labels_path = dir.join("labels.jsonl");
    let mut labels = BufWriter::new(File::create(&labels_path)?);
    for source in Source::ALL {
        let path = dir.join(format!("{}.jsonl", source.name()));
        let mut file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let mut count = 0;
        for record in simulation.records.iter().filter(|r| r.source == source) {
            if let Some(label) = &record.label {
                write_label(&mut labels, record, &record.line, label)?;
                summary.labelled += 1;
            }
            file.write_all(&record.line)?;
            file.write_all(b"\n")?;
            summary.bytes += record.line.len() as u64 + 1;
            count += 1;
        }
        file.flush()?;
        summary.events.push((source.name().to_string(), count));
        summary.files.push(path);
    }
    labels.flush()?;
    summary.files.push(labels_path);

    let users_path = dir.join("users.jsonl");
    let mut users = BufWriter::new(File::create(&users_path)?);
    for user in &simulation.users {
        let row = serde_json::json!({
            "upn": user.upn, "display_name": user.display_name, "role": user.role.name(),
            "office": user.office.city, "country": user.office.country,
            "aws_account": user.aws_account, "activity": (user.activity * 100.0).round() / 100.0,
        });
        serde_json::to_writer(&mut users, &row)?;
        users.write_all(b"\n")?;
    }
    users.flush()?;
    summary.files.push(users_path);

    if let Some(trip) = &simulation.trip
        && let Some(traveller) = simulation.users.get(trip.user)
    {
        let path = dir.join("anticipated.toml");
        let text = format!(
            "# Known in advance: {} works from {} for {} days.\n[[travel]]\nuser = {:?}\ncountry = {:?}\nfrom = \"{}\"\ndays = {}\n",
            traveller.display_name,
            trip.place.city.city,
            trip.days,
            traveller.upn,
            trip.place.city.country,
            trip.from,
            trip.days
        );
        std::fs::write(&path, text)?;
        summary.files.push(path);
    }
    Ok(summary)
}

fn write_label(
    out: &mut impl Write,
    record: &Record,
    line: &[u8],
    label: &super::Label,
) -> std::io::Result<()> {
    // The event id is whatever the decoder will call this event, so labels always join.
    let envelope = schemas::decode(record.source, line).map_err(|error| {
        std::io::Error::other(format!(
            "simulated {} event does not decode: {error}",
            record.source
        ))
    })?;
    let row = serde_json::json!({
        "event_id": envelope.event_id,
        "source": record.source.name(),
        "event_time": envelope.event_time.to_rfc3339(),
        "user": envelope.user,
        "scenario": label.scenario,
        "scenario_id": label.scenario_id,
        "technique": label.technique,
        "malicious": label.malicious,
        "stealthy": label.stealthy,
    });
    serde_json::to_writer(&mut *out, &row)?;
    out.write_all(b"\n")
}

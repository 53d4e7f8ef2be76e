//! A real Apache Kafka broker for the tests, started by `scripts/kafka attached` on a free
//! port, once per test binary. The broker's wrapper exits when this process's pipe to it
//! closes, so no broker outlives the tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::{cyberlm_bin, repo_root};

/// The running broker.
pub struct Broker {
    /// `127.0.0.1:PORT`.
    pub bootstrap: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
    _dir: tempfile::TempDir,
}

fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(address) = listener.local_addr() else {
            continue;
        };
        let port = address.port();
        if port < 65000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of ports on 127.0.0.1");
}

/// The broker shared by this test binary, started on first use.
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir for the broker");
        let port = free_port_pair();
        let mut child = Command::new(repo_root().join("scripts/kafka"))
            .args([
                "attached",
                dir.path().to_str().expect("utf-8 temp path"),
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scripts/kafka starts (needs Java 17 and Maven)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("scripts/kafka output");
        assert_eq!(
            line.trim(),
            "ready",
            "the test broker did not start; see {}/broker.log",
            dir.path().display()
        );
        let stdin = child.stdin.take().expect("piped stdin");
        Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
            _dir: dir,
        }
    })
}

/// Topic and group names private to one test, and a config file that points cyberlm at
/// them.
pub struct TestTopics {
    /// Prefix of every name.
    pub prefix: String,
    /// The config file.
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestTopics {
    /// Names `<prefix>-azure`, ... and group `<prefix>-detect`, created with `partitions`
    /// partitions through `cyberlm topics`.
    pub fn create(prefix: &str, partitions: i32) -> TestTopics {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("cyberlm.toml");
        let rules = repo_root().join("rules/sigma/rules");
        let text = format!(
            "[sigma]\nrules = {rules:?}\n[sigma.overrides.aws_sts_assumerole_misuse]\nenabled = false\n\
             [kafka]\nbootstrap_servers = {bootstrap:?}\ngroup_id = \"{prefix}-detect\"\n\
             [kafka.topics]\nazure = \"{prefix}-azure\"\nconfluence = \"{prefix}-confluence\"\n\
             cloudtrail = \"{prefix}-cloudtrail\"\nalerts = \"{prefix}-alerts\"\ndead_letter = \"{prefix}-dead-letter\"\n\
             [stream]\nidle_timeout_ms = 1000\n",
            bootstrap = broker().bootstrap,
        );
        std::fs::write(&config, text).expect("config written");
        let topics = TestTopics {
            prefix: prefix.to_string(),
            config,
            _dir: dir,
        };
        crate::run_cyberlm(&[
            "topics",
            "--partitions",
            &partitions.to_string(),
            "--config",
            topics.config_str(),
        ]);
        topics
    }

    /// The config path as text.
    pub fn config_str(&self) -> &str {
        self.config.to_str().expect("utf-8 path")
    }

    /// A topic name: `azure`, `alerts`, `dead-letter`, ...
    pub fn topic(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Starts `cyberlm detect --kafka` on these topics.
    pub fn spawn_detect(&self, extra_env: &[(&str, &str)]) -> Child {
        let mut command = Command::new(cyberlm_bin());
        command
            .args(["detect", "--kafka", "--config", self.config_str()])
            .current_dir(repo_root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        command.spawn().expect("cyberlm detect starts")
    }

    /// Replays a folder of JSONL logs into these topics.
    pub fn replay(&self, folder: &Path, extra: &[&str]) {
        let mut args = vec![
            "replay",
            folder.to_str().expect("utf-8 path"),
            "--config",
            self.config_str(),
        ];
        args.extend_from_slice(extra);
        crate::run_cyberlm(&args);
    }

    /// Produces raw payloads with keys to one topic.
    pub fn produce(&self, topic: &str, messages: &[(&str, Vec<u8>)]) {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &broker().bootstrap)
            .set("partitioner", "murmur2_random")
            .create()
            .expect("test producer");
        for (key, payload) in messages {
            producer
                .send(
                    BaseRecord::to(&self.topic(topic))
                        .key(*key)
                        .payload(payload),
                )
                .map_err(|(e, _)| e)
                .expect("queued");
        }
        producer.flush(Duration::from_secs(30)).expect("delivered");
    }

    /// Reads `topic` from the beginning until `done` says enough or `timeout` passes;
    /// returns (key, payload as JSON) in partition order, partitions in turn.
    pub fn read(
        &self,
        topic: &str,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &broker().bootstrap)
            .set(
                "group.id",
                format!("{}-reader-{}", self.prefix, std::process::id()),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("test consumer");
        consumer
            .subscribe(&[&self.topic(topic)])
            .expect("subscribed");
        let started = Instant::now();
        let mut out = Vec::new();
        while started.elapsed() < timeout {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                let payload = message.payload().unwrap_or_default();
                let mut value: serde_json::Value =
                    serde_json::from_slice(payload).expect("JSON on the topic");
                value["_partition"] = message.partition().into();
                out.push(value);
            }
            // Checked after every message too: a reader that only looked during a pause
            // would, on a steady stream, read to its end before saying it had enough.
            if done(&out) {
                break;
            }
        }
        out
    }
}

/// Stops a child with SIGTERM and waits up to 60 s; returns its standard output.
pub fn terminate(mut child: Child) -> String {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("child output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Counts of each finding uid.
pub fn uid_counts(alerts: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for alert in alerts {
        let uid = alert["finding_info"]["uid"]
            .as_str()
            .expect("finding uid")
            .to_string();
        *counts.entry(uid).or_insert(0) += 1;
    }
    counts
}

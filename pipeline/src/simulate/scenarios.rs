//! Labelled scenarios on top of ordinary traffic: attacks tagged with MITRE ATT&CK ids,
//! shaped like the real ones in the reference data (Stratus Red Team detonations, Panther
//! and SigmaHQ test cases), one anticipated benign event (a trip abroad) and, where
//! asked for, colleagues' earlier trips.
//!
//! Each attack step says whether it is meant to be visible to the SigmaHQ rules
//! (`stealthy: false`) or to slip past them (`stealthy: true`, e.g. discovery through
//! an SSO assumed role, which `aws_enum_buckets` filters out by design): detection
//! metrics need both kinds.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemas::Source;
use serde_json::{Value, json};

use super::activity::{Whereabouts, at_local};
use super::azure::{self, Outcome, SignIn};
use super::cloudtrail::{ApiCall, Params, Principal, request_parameters};
use super::confluence::AuditRecord;
use super::enterprise::{Device, Role, User, app_named};
use super::geo::{City, HOSTILE, OFFICES, TRAVEL};
use super::{Emitter, Label};

/// Attack tooling user agents.
const KALI_CLI: &str =
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/s3.ls";
const BOTO3: &str =
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.2";

/// The attacker's laptop as Entra ID sees it: unregistered, unmanaged.
fn attacker_device() -> Device {
    Device {
        device_id: String::new(),
        display_name: String::new(),
        operating_system: "Linux",
        browser: Some("Firefox 115.0"),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        is_compliant: false,
        is_managed: false,
        trust_type: "",
    }
}

/// What the scenario planner needs to know about the enterprise.
pub struct Stage<'a> {
    /// Everybody.
    pub users: &'a [User],
    /// First simulated day.
    pub start: NaiveDate,
    /// Number of simulated days.
    pub days: u32,
    /// The CI robot's principal.
    pub robot: &'a Principal,
}

impl Stage<'_> {
    fn pick(&self, rng: &mut ChaCha8Rng, roles: &[Role]) -> &User {
        self.pick_except(rng, roles, &[])
    }

    /// As [`Stage::pick`], but none of `spared` (sign-in names) while someone of `roles`
    /// is left.
    fn pick_except(&self, rng: &mut ChaCha8Rng, roles: &[Role], spared: &[&str]) -> &User {
        let candidates: Vec<&User> = self
            .users
            .iter()
            .filter(|u| roles.contains(&u.role) && !spared.contains(&u.upn.as_str()))
            .collect();
        if candidates.is_empty() {
            &self.users[rng.random_range(0..self.users.len())]
        } else {
            candidates[rng.random_range(0..candidates.len())]
        }
    }

    /// A day in the second half of the simulation, so models have history before it.
    fn day(&self, rng: &mut ChaCha8Rng) -> NaiveDate {
        let first = (self.days / 2).max(1).min(self.days.saturating_sub(1));
        self.start + Duration::days(i64::from(rng.random_range(first..self.days.max(first + 1))))
    }

    /// Like [`Stage::day`], but a working day where the second half has one.
    fn weekday(&self, rng: &mut ChaCha8Rng) -> NaiveDate {
        let mut date = self.day(rng);
        for _ in 0..16 {
            if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                break;
            }
            date = self.day(rng);
        }
        date
    }
}

/// A benign trip abroad, which ordinary activity consults when placing the traveller.
#[derive(Debug, Clone)]
pub struct Trip {
    /// Index of the traveller in the user list.
    pub user: usize,
    /// Where to.
    pub place: Whereabouts,
    /// First day abroad.
    pub from: NaiveDate,
    /// Days abroad.
    pub days: u32,
    /// The label its logs carry.
    pub label: Label,
}

impl Trip {
    /// Where the traveller is on `date`, if abroad.
    pub fn on(&self, user: usize, date: NaiveDate) -> Option<&Whereabouts> {
        let until = self.from + Duration::days(i64::from(self.days));
        (user == self.user && date >= self.from && date < until).then_some(&self.place)
    }
}

/// Plans the anticipated trip: a non-admin employee spends five days in a travel city.
pub fn plan_trip(rng: &mut ChaCha8Rng, stage: &Stage) -> Trip {
    let candidates: Vec<usize> = (0..stage.users.len())
        .filter(|&i| {
            matches!(
                stage.users[i].role,
                Role::Sales | Role::Engineer | Role::Marketing
            )
        })
        .collect();
    let user = if candidates.is_empty() {
        0
    } else {
        candidates[rng.random_range(0..candidates.len())]
    };
    let city = TRAVEL[rng.random_range(0..TRAVEL.len())];
    let from = stage.weekday(rng);
    Trip {
        user,
        place: Whereabouts::away(city, rng),
        from,
        days: 5,
        label: label("travel", 1, None, false, false),
    }
}

/// Colleagues' earlier trips: `count` employees other than the traveller each spend
/// three to five days abroad in the first half of the simulation (the history models
/// learn from, as attacks come in the second) and before the anticipated trip begins,
/// the first of them in its city and, where there is one, a colleague of the traveller's
/// role (who uses the same sources). The organisation's history then knows the place (its
/// addresses, its AWS region), only not the traveller there: what a detector must still notice, and what a
/// location model needs to have seen to write the trip's logs. Fewer trips when that
/// period is too short.
pub fn plan_past_trips(rng: &mut ChaCha8Rng, stage: &Stage, trip: &Trip, count: u32) -> Vec<Trip> {
    let mut others: Vec<usize> = (0..stage.users.len()).filter(|&i| i != trip.user).collect();
    let room = (trip.from - stage.start)
        .num_days()
        .min(i64::from(stage.days / 2));
    let mut trips = Vec::new();
    for instance in 1..=count {
        if others.is_empty() {
            break;
        }
        let days = rng.random_range(3..=5u32);
        let latest_start = room - i64::from(days);
        if latest_start < 0 {
            break;
        }
        let same_role: Vec<usize> = (0..others.len())
            .filter(|&i| stage.users[others[i]].role == stage.users[trip.user].role)
            .collect();
        let pick = match (instance, same_role.is_empty()) {
            (1, false) => same_role[rng.random_range(0..same_role.len())],
            _ => rng.random_range(0..others.len()),
        };
        let user = others.swap_remove(pick);
        let city = if instance == 1 {
            trip.place.city
        } else {
            TRAVEL[rng.random_range(0..TRAVEL.len())]
        };
        trips.push(Trip {
            user,
            place: Whereabouts::away(city, rng),
            from: stage.start + Duration::days(rng.random_range(0..=latest_start)),
            days,
            label: label("past_trip", instance, None, false, false),
        });
    }
    trips
}

fn label(
    scenario: &'static str,
    instance: u32,
    technique: Option<&'static str>,
    malicious: bool,
    stealthy: bool,
) -> Label {
    Label {
        scenario,
        scenario_id: format!("{scenario}-{instance}"),
        technique,
        malicious,
        stealthy,
    }
}

/// Every attack scenario, once each. `trip` lets one attack come from the traveller's
/// destination, so a detector must tell the benign trip from the real intrusion; its
/// victim is none of `travellers` (who have been there).
pub fn attacks(
    rng: &mut ChaCha8Rng,
    stage: &Stage,
    trip: &Trip,
    travellers: &[usize],
    out: &mut Emitter,
) {
    account_takeover(rng, stage, out);
    leaked_key_discovery(rng, stage, out);
    password_spray(rng, stage, out);
    backdoor_credentials(rng, stage, out);
    disable_logging(rng, stage, out);
    s3_exfiltration(rng, stage, out);
    confluence_export(rng, stage, out);
    foreign_session(rng, stage, trip, travellers, out);
    // Last, so adding them left every earlier scenario's draws as they were.
    quiet_takeover(rng, stage, out);
    let colleagues: Vec<City> = OFFICES.iter().map(|(city, _)| *city).collect();
    let first = new_country_discovery(rng, stage, 1, &colleagues, &[], out);
    // Not the anticipated trip's country, so the trip and the attack stay apart.
    let unseen: Vec<City> = TRAVEL
        .iter()
        .copied()
        .filter(|city| city.country != trip.place.city.country)
        .collect();
    new_country_discovery(rng, stage, 2, &unseen, &[first.as_str()], out);
}

/// Two sign-ins with a stolen password from the attacker's unmanaged laptop, a few
/// minutes apart: mail first, then the app the attacker is after.
fn stolen_password_sign_ins(
    rng: &mut ChaCha8Rng,
    victim: &User,
    apps: [&str; 2],
    time: DateTime<Utc>,
    attacker: &Whereabouts,
    out: &mut Emitter,
) {
    let device = attacker_device();
    for (index, app) in apps.into_iter().enumerate() {
        let at = time + Duration::minutes(3 * index as i64);
        attacker_sign_in(
            rng,
            victim,
            app,
            at,
            attacker,
            &device,
            azure::SUCCESS,
            "Browser",
            out,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn attacker_sign_in(
    rng: &mut ChaCha8Rng,
    user: &User,
    app: &str,
    time: DateTime<Utc>,
    place: &Whereabouts,
    device: &Device,
    outcome: Outcome,
    client_app: &'static str,
    out: &mut Emitter,
) {
    let record = SignIn {
        time,
        user,
        app: app_named(app),
        ip: place.ip.clone(),
        city: place.city,
        device,
        browser: if client_app == "Browser" {
            device.browser
        } else {
            None
        },
        user_agent: if client_app == "Browser" {
            device.user_agent
        } else {
            "python-requests/2.31.0"
        },
        client_app,
        interactive: true,
        outcome,
        // The stolen password works where a Conditional Access gap leaves single factor.
        requirement: "singleFactorAuthentication",
        mfa_method: None,
        named_network: None,
        ca_status: "notApplied",
    };
    let json = record.to_json(rng);
    out.push(Source::Azure, time, json);
}

fn discovery_calls(
    rng: &mut ChaCha8Rng,
    principal: &Principal,
    mut time: DateTime<Utc>,
    ip: &str,
    agent: &'static str,
    denied_iam: bool,
    out: &mut Emitter,
) -> DateTime<Utc> {
    const DISCOVERY: &[(&str, &str)] = &[
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ec2.amazonaws.com", "DescribeSnapshots"),
        ("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ("ec2.amazonaws.com", "DescribeVpcs"),
        ("rds.amazonaws.com", "DescribeDBInstances"),
        ("lambda.amazonaws.com", "ListFunctions20150331"),
        ("iam.amazonaws.com", "ListUsers"),
        ("iam.amazonaws.com", "ListRoles"),
        ("iam.amazonaws.com", "GetAccountAuthorizationDetails"),
        ("secretsmanager.amazonaws.com", "ListSecrets"),
    ];
    for region in ["us-east-1", "eu-central-1", "eu-west-1", "ap-southeast-1"] {
        for (event_source, event_name) in DISCOVERY {
            let global = event_source.starts_with("iam")
                || event_source.starts_with("s3")
                || event_source.starts_with("sts");
            if global && region != "us-east-1" {
                continue;
            }
            let denied = denied_iam && event_source.starts_with("iam");
            ApiCall {
                error: if denied {
                    ApiCall::access_denied(event_source, event_name)
                } else {
                    None
                },
                ..ApiCall::new(
                    time,
                    principal,
                    (*event_source, *event_name),
                    region,
                    ip.to_string(),
                    agent,
                )
            }
            .emit(rng, out);
            time += Duration::milliseconds(rng.random_range(300..4000));
        }
    }
    time
}

/// T1078.004 then T1580: a stolen password used from abroad at night on an unmanaged
/// device (Entra ID), then discovery through the victim's SSO role (CloudTrail). The
/// sign-in fires `azure_ad_sign_ins_from_unknown_devices`; the assumed-role discovery
/// slips past `aws_enum_buckets`: only the two sources together tell the story.
fn account_takeover(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let victim = stage.pick(rng, &[Role::Engineer]);
    let attacker = Whereabouts::away(HOSTILE[0], rng);
    let day = stage.day(rng);
    let time = at_local(day, rng.random_range(1.0..4.0), &victim.office);
    out.set_label(Some(label(
        "account_takeover",
        1,
        Some("T1078.004"),
        true,
        false,
    )));
    stolen_password_sign_ins(
        rng,
        victim,
        ["Office 365 Exchange Online", "AWS IAM Identity Center"],
        time,
        &attacker,
        out,
    );
    out.set_label(Some(label(
        "account_takeover",
        1,
        Some("T1580"),
        true,
        true,
    )));
    let principal = Principal::Sso {
        account: victim.aws_account,
        permission_set: victim
            .role
            .aws_permission_set()
            .unwrap_or("DeveloperAccess"),
        role_suffix: victim.sso_role_suffix.clone(),
        upn: victim.upn.clone(),
    };
    discovery_calls(
        rng,
        &principal,
        time + Duration::minutes(5),
        &attacker.ip,
        KALI_CLI,
        true,
        out,
    );
    out.set_label(None);
}

/// T1078.004 then T1580, quietly: an attacker with an engineer's session signs in from
/// a residential proxy in the engineer's own city, on the engineer's own browser, in the
/// evening, then makes a few of the engineer's usual read-only AWS calls with the
/// engineer's CLI. No log is strange on its own: only a new address, an odd hour, a
/// single-factor sign-in. What gives it away is that they follow each other across two
/// sources, which only a detector reading the merged stream per user can see.
fn quiet_takeover(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let victim = stage.pick(rng, &[Role::Engineer]);
    let proxy = Whereabouts::away(victim.office, rng);
    let day = stage.day(rng);
    let time = at_local(day, rng.random_range(19.0..22.0), &victim.office);
    let pace = Pace {
        delay_minutes: 2..5,
        calls: 4..8,
        gap_seconds: 10..60,
    };
    let label_as = ("quiet_takeover", 1);
    borrowed_session(rng, victim, label_as, time, (&proxy, &proxy), pace, out);
}

/// How an attacker works a borrowed session: minutes from the sign-in to the first
/// call, how many calls, seconds between them.
struct Pace {
    delay_minutes: std::ops::Range<i64>,
    calls: std::ops::Range<u32>,
    gap_seconds: std::ops::Range<i64>,
}

/// An engineer's session in an attacker's hands: a sign-in to AWS IAM Identity Center
/// on the engineer's own browser (T1078.004) from the first place, then a few of the
/// engineer's usual AWS calls with their CLI (T1580) from the second, labelled as
/// `(scenario, instance)`.
fn borrowed_session(
    rng: &mut ChaCha8Rng,
    victim: &User,
    (scenario, instance): (&'static str, u32),
    mut time: DateTime<Utc>,
    (sign_in_from, calls_from): (&Whereabouts, &Whereabouts),
    pace: Pace,
    out: &mut Emitter,
) {
    out.set_label(Some(label(
        scenario,
        instance,
        Some("T1078.004"),
        true,
        true,
    )));
    let device = victim
        .devices
        .first()
        .cloned()
        .unwrap_or_else(attacker_device);
    attacker_sign_in(
        rng,
        victim,
        "AWS IAM Identity Center",
        time,
        sign_in_from,
        &device,
        azure::SUCCESS,
        "Browser",
        out,
    );
    out.set_label(Some(label(scenario, instance, Some("T1580"), true, true)));
    let permission_set = victim
        .role
        .aws_permission_set()
        .unwrap_or("DeveloperAccess");
    let principal = Principal::Sso {
        account: victim.aws_account,
        permission_set,
        role_suffix: victim.sso_role_suffix.clone(),
        upn: victim.upn.clone(),
    };
    time += Duration::minutes(rng.random_range(pace.delay_minutes));
    for _ in 0..rng.random_range(pace.calls) {
        super::activity::aws_call(
            rng,
            &principal,
            permission_set,
            time,
            calls_from,
            false,
            out,
        );
        time += Duration::seconds(rng.random_range(pace.gap_seconds.clone()));
    }
    out.set_label(None);
}

/// T1078.004 then T1580, across two sources: an engineer's session used from another
/// country, on the engineer's own browser during their working hours, then a few of the
/// engineer's usual read-only AWS calls, in the engineer's usual region, with the
/// engineer's CLI. Only the sign-in records a country: each call on its own is routine
/// but for an address new to this user. A detector that reads CloudTrail alone sees
/// ordinary calls from an unfamiliar address; one that reads the user's merged stream
/// knows they come from a country the user has never signed in from. `places` sets how
/// unfamiliar the address is: a city where colleagues work (an address range the
/// organisation's CloudTrail sees every day), or one it never sees. The victim is not
/// in `spared`, so two instances never share one.
fn new_country_discovery(
    rng: &mut ChaCha8Rng,
    stage: &Stage,
    instance: u32,
    places: &[City],
    spared: &[&str],
    out: &mut Emitter,
) -> String {
    let victim = stage.pick_except(rng, &[Role::Engineer], spared);
    let elsewhere: Vec<City> = places
        .iter()
        .copied()
        .filter(|city| city.country != victim.office.country)
        .collect();
    let city = elsewhere
        .get(rng.random_range(0..elsewhere.len().max(1)))
        .copied()
        .unwrap_or(HOSTILE[2]);
    let attacker = Whereabouts::away(city, rng);
    let time = at_local(
        stage.weekday(rng),
        rng.random_range(10.0..16.0),
        &victim.office,
    );
    // The victim's region (`aws_call` takes it from the place's city), the attacker's address.
    let calls_from = Whereabouts {
        city: victim.office,
        ..attacker.clone()
    };
    let pace = Pace {
        delay_minutes: 2..6,
        calls: 5..9,
        gap_seconds: 10..90,
    };
    let label_as = ("new_country_discovery", instance);
    borrowed_session(
        rng,
        victim,
        label_as,
        time,
        (&attacker, &calls_from),
        pace,
        out,
    );
    victim.upn.clone()
}

/// T1580: the CI robot's long-lived key, leaked, enumerates the estate from abroad.
fn leaked_key_discovery(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let attacker = Whereabouts::away(HOSTILE[3], rng);
    let day = stage.day(rng);
    let time = at_local(day, rng.random_range(0.0..24.0), &HOSTILE[3]);
    out.set_label(Some(label(
        "leaked_key_discovery",
        1,
        Some("T1580"),
        true,
        false,
    )));
    discovery_calls(rng, stage.robot, time, &attacker.ip, BOTO3, true, out);
    out.set_label(None);
}

/// T1110.003: one address tries one or two common passwords against most accounts in
/// under an hour, through a legacy client; a few accounts lock out (`50053`, which
/// `azure_account_lockout` catches).
fn password_spray(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let attacker = Whereabouts::away(HOSTILE[1], rng);
    let day = stage.day(rng);
    let mut time = at_local(day, rng.random_range(0.0..24.0), &HOSTILE[1]);
    let device = Device {
        browser: None,
        ..attacker_device()
    };
    out.set_label(Some(label(
        "password_spray",
        1,
        Some("T1110.003"),
        true,
        false,
    )));
    let mut locked = 0;
    for user in stage.users {
        if !rng.random_bool(0.85) {
            continue;
        }
        let outcome = if locked < 3 && rng.random_bool(0.08) {
            locked += 1;
            azure::LOCKED_OUT
        } else {
            azure::BAD_PASSWORD
        };
        attacker_sign_in(
            rng,
            user,
            "Microsoft Office",
            time,
            &attacker,
            &device,
            outcome,
            "Mobile Apps and Desktop clients",
            out,
        );
        time += Duration::seconds(rng.random_range(5..45));
    }
    if locked == 0 {
        let user = &stage.users[rng.random_range(0..stage.users.len())];
        attacker_sign_in(
            rng,
            user,
            "Microsoft Office",
            time,
            &attacker,
            &device,
            azure::LOCKED_OUT,
            "Mobile Apps and Desktop clients",
            out,
        );
    }
    out.set_label(None);
}

/// A cloud admin's SSO session in an attacker's hands, from Bucharest, in the admin's
/// small hours: the principal, the attacker's whereabouts and when it starts.
fn admin_intrusion(rng: &mut ChaCha8Rng, stage: &Stage) -> (Principal, Whereabouts, DateTime<Utc>) {
    let admin = stage.pick(rng, &[Role::CloudAdmin]);
    let attacker = Whereabouts::away(HOSTILE[2], rng);
    let time = at_local(stage.day(rng), rng.random_range(0.0..5.0), &admin.office);
    (admin_principal(admin), attacker, time)
}

fn admin_principal(admin: &User) -> Principal {
    Principal::Sso {
        account: admin.aws_account,
        permission_set: "AdministratorAccess",
        role_suffix: admin.sso_role_suffix.clone(),
        upn: admin.upn.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_call(
    rng: &mut ChaCha8Rng,
    principal: &Principal,
    time: DateTime<Utc>,
    ip: &str,
    (event_source, event_name): (&'static str, &'static str),
    request: Value,
    response: Value,
    out: &mut Emitter,
) {
    ApiCall {
        request,
        response,
        read_only: false,
        ..ApiCall::new(
            time,
            principal,
            (event_source, event_name),
            "us-east-1",
            ip.to_string(),
            KALI_CLI,
        )
    }
    .emit(rng, out);
}

/// T1098.001: with a cloud admin's session, the attacker adds an access key to another
/// identity (the CI robot) and a console password to a dormant user, as Stratus'
/// `iam-backdoor-user` does; `aws_iam_backdoor_users_keys` fires.
fn backdoor_credentials(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let (principal, attacker, time) = admin_intrusion(rng, stage);
    out.set_label(Some(label(
        "backdoor_credentials",
        1,
        Some("T1098.001"),
        true,
        false,
    )));
    let key = format!("AKIA{}", super::ids::alnum_upper(rng, 16));
    write_call(
        rng,
        &principal,
        time,
        &attacker.ip,
        ("iam.amazonaws.com", "CreateAccessKey"),
        json!({"userName": "svc-ci-deploy"}),
        json!({"accessKey": {"accessKeyId": key, "status": "Active", "userName": "svc-ci-deploy", "createDate": time.format("%b %e, %Y %l:%M:%S %p").to_string()}}),
        out,
    );
    write_call(
        rng,
        &principal,
        time + Duration::seconds(40),
        &attacker.ip,
        ("iam.amazonaws.com", "CreateLoginProfile"),
        json!({"userName": "legacy-reporting", "passwordResetRequired": false}),
        json!({"loginProfile": {"userName": "legacy-reporting", "passwordResetRequired": false}}),
        out,
    );
    out.set_label(None);
}

/// T1562.008: CloudTrail stopped and then deleted, and AWS Config recording stopped, as in
/// Stratus' `cloudtrail-stop` and `cloudtrail-delete` detonations.
fn disable_logging(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let (principal, attacker, time) = admin_intrusion(rng, stage);
    out.set_label(Some(label(
        "disable_logging",
        1,
        Some("T1562.008"),
        true,
        false,
    )));
    write_call(
        rng,
        &principal,
        time,
        &attacker.ip,
        ("cloudtrail.amazonaws.com", "StopLogging"),
        json!({"name": "org-trail"}),
        Value::Null,
        out,
    );
    write_call(
        rng,
        &principal,
        time + Duration::seconds(25),
        &attacker.ip,
        ("config.amazonaws.com", "StopConfigurationRecorder"),
        json!({"configurationRecorderName": "default"}),
        Value::Null,
        out,
    );
    write_call(
        rng,
        &principal,
        time + Duration::seconds(70),
        &attacker.ip,
        ("cloudtrail.amazonaws.com", "DeleteTrail"),
        json!({"name": "org-trail"}),
        Value::Null,
        out,
    );
    out.set_label(None);
}

/// T1530: a data scientist's session bulk-downloads a customer export bucket from a
/// foreign address (S3 data events). No SigmaHQ rule covers it.
fn s3_exfiltration(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let victim = stage.pick(rng, &[Role::DataScientist, Role::Engineer]);
    let attacker = Whereabouts::away(HOSTILE[2], rng);
    let mut time = at_local(stage.day(rng), rng.random_range(20.0..23.0), &victim.office);
    let principal = Principal::Sso {
        account: victim.aws_account,
        permission_set: victim
            .role
            .aws_permission_set()
            .unwrap_or("DataScienceAccess"),
        role_suffix: victim.sso_role_suffix.clone(),
        upn: victim.upn.clone(),
    };
    out.set_label(Some(label("s3_exfiltration", 1, Some("T1530"), true, true)));
    let bucket = "contoso-customer-exports";
    for index in 0..rng.random_range(80..140) {
        let (name, params) = if index == 0 {
            ("ListObjects", Params::Bucket)
        } else {
            ("GetObject", Params::Object)
        };
        let mut request = request_parameters(rng, params, "eu-central-1");
        request["bucketName"] = json!(bucket);
        let key = request
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        ApiCall {
            request,
            data_event: true,
            resources: Some(json!([
                {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                {"accountId": victim.aws_account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")},
            ])),
            additional: Some(json!({"bytesTransferredIn": 0, "bytesTransferredOut": rng.random_range(20_000..9_000_000)})),
            ..ApiCall::new(time, &principal, ("s3.amazonaws.com", name), "eu-central-1", attacker.ip.clone(), KALI_CLI)
        }
        .emit(rng, out);
        time += Duration::milliseconds(rng.random_range(200..2500));
    }
    out.set_label(None);
}

/// T1213.001: a departing employee exports every space they can reach and dozens of pages
/// to PDF late at night from home. No SigmaHQ rule covers Confluence.
fn confluence_export(rng: &mut ChaCha8Rng, stage: &Stage, out: &mut Emitter) {
    let insider = stage.pick(rng, &[Role::Sales, Role::Marketing]);
    let home = Whereabouts::home(insider);
    let mut time = at_local(
        stage.day(rng),
        rng.random_range(21.0..23.5),
        &insider.office,
    );
    out.set_label(Some(label(
        "confluence_export",
        1,
        Some("T1213.001"),
        true,
        true,
    )));
    let spaces = [
        ("SALES", "Sales Space"),
        ("COMPANY", "Company Home"),
        ("ENG", "Engineering"),
        ("FIN", "Finance"),
        ("PROD", "Product"),
        ("ARCH", "Architecture"),
        ("EXEC", "Leadership"),
        ("HR", "People"),
    ];
    for (key, name) in spaces {
        let record = AuditRecord {
            time,
            user: insider,
            ip: home.ip.clone(),
            summary: "Space exported",
            category: "Import/Export",
            affected: (name.to_string(), "Space"),
            changed: vec![
                ("Export type", "XML full export".to_string()),
                ("Space key", key.to_string()),
            ],
            associated: vec![],
        };
        let json = record.to_json(rng);
        out.push(Source::Confluence, time, json);
        time += Duration::seconds(rng.random_range(20..120));
        for page in 0..rng.random_range(2..6) {
            let record = AuditRecord {
                time,
                user: insider,
                ip: home.ip.clone(),
                summary: "Page exported to PDF",
                category: "Import/Export",
                affected: (format!("{name} overview {page}"), "Page"),
                changed: vec![],
                associated: vec![(name.to_string(), "Space")],
            };
            let json = record.to_json(rng);
            out.push(Source::Confluence, time, json);
            time += Duration::seconds(rng.random_range(5..40));
        }
    }
    out.set_label(None);
}

/// T1078.004 from the traveller's destination country: another employee's account used
/// there on an unmanaged device with single factor, while that employee is at home.
fn foreign_session(
    rng: &mut ChaCha8Rng,
    stage: &Stage,
    trip: &Trip,
    travellers: &[usize],
    out: &mut Emitter,
) {
    // Anyone who has not travelled; in a one-person enterprise, the traveller after all.
    let others: Vec<&User> = stage
        .users
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != trip.user && !travellers.contains(i))
        .map(|(_, u)| u)
        .collect();
    let victim = if others.is_empty() {
        &stage.users[trip.user]
    } else {
        others[rng.random_range(0..others.len())]
    };
    let city: City = trip.place.city;
    let attacker = Whereabouts::away(city, rng);
    let time = at_local(stage.day(rng), rng.random_range(9.0..18.0), &city);
    out.set_label(Some(label(
        "foreign_session",
        1,
        Some("T1078.004"),
        true,
        false,
    )));
    stolen_password_sign_ins(
        rng,
        victim,
        ["Office 365 Exchange Online", "Office 365 SharePoint Online"],
        time,
        &attacker,
        out,
    );
    out.set_label(None);
}

//! Ordinary working days: sign-ins, Confluence edits and AWS calls that follow each
//! person's habits, office hours and time zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};
use schemas::Source;

use super::azure::{self, Outcome, SignIn};
use super::cloudtrail::{ApiCall, Principal, catalogue, request_parameters};
use super::confluence::{AuditRecord, EVERYDAY, PAGE_TOPICS};
use super::enterprise::{App, Device, User, app_named, pick_weighted};
use super::geo::City;
use super::ids::hex;
use super::{Emitter, Label};

/// Where a person is on a given day.
#[derive(Debug, Clone)]
pub struct Whereabouts {
    /// The city.
    pub city: City,
    /// The public address they come from.
    pub ip: String,
    /// The office's named network, when at the office.
    pub named_network: Option<String>,
}

impl Whereabouts {
    /// At the office.
    pub fn office(user: &User) -> Self {
        let [a, b] = user.office.ip_prefix;
        let [c, d] = user.office_ip_suffix;
        Whereabouts {
            city: user.office,
            ip: format!("{a}.{b}.{c}.{d}"),
            named_network: Some(format!("{} Office", user.office.city)),
        }
    }

    /// At home: same city, the home broadband address.
    pub fn home(user: &User) -> Self {
        let [a, b] = user.office.ip_prefix;
        let [c, d] = user.home_ip_suffix;
        Whereabouts {
            city: user.office,
            ip: format!("{a}.{}.{c}.{d}", b.wrapping_add(7)),
            named_network: None,
        }
    }

    /// Somewhere else, from a random address there (a hotel, an attacker's server).
    pub fn away(city: City, rng: &mut ChaCha8Rng) -> Self {
        let [a, b] = city.ip_prefix;
        Whereabouts {
            city,
            ip: format!(
                "{a}.{b}.{}.{}",
                rng.random_range(1..255),
                rng.random_range(1..255)
            ),
            named_network: None,
        }
    }
}

/// Rich-client user agents by app, for sign-ins that report no browser.
fn rich_client_agent(app: &App, device: &Device) -> &'static str {
    match (app.name, device.operating_system) {
        ("Microsoft Teams", "Ios" | "Android") => "Microsoft Teams Mobile/6.1.0",
        ("Microsoft Teams", _) => "Microsoft Teams/24004.1307.2669.7070",
        (_, "Ios") => "Outlook-iOS/4.2351.0",
        (_, "Android") => "Outlook-Android/4.2352.1",
        (_, "MacOs") => "Microsoft Office/16.0 (Macintosh; Mac OS X 14.2; Microsoft Outlook 16.80)",
        _ => "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
    }
}

/// A UTC time from a local date and fractional local hour.
pub fn at_local(date: NaiveDate, local_hour: f64, city: &City) -> DateTime<Utc> {
    let seconds = (local_hour * 3600.0).round() as i64 - i64::from(city.utc_offset_hours) * 3600;
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        + Duration::seconds(seconds)
}

/// One person's ordinary day, written into `out`. `travel` replaces the usual location.
pub fn working_day(
    rng: &mut ChaCha8Rng,
    user: &User,
    date: NaiveDate,
    travel: Option<&Whereabouts>,
    label: Option<&Label>,
    out: &mut Emitter,
) {
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    if weekend && !rng.random_bool(0.12) {
        return;
    }
    let intensity = user.activity * if weekend { 0.3 } else { 1.0 };
    let place = match travel {
        Some(place) => place.clone(),
        None if !weekend && !rng.random_bool(user.remote_share) => Whereabouts::office(user),
        None => Whereabouts::home(user),
    };
    let jitter = Normal::new(0.0, 0.4).expect("valid normal parameters");
    let start = user.start_hour + jitter.sample(rng);
    let length =
        (8.5 + jitter.sample(rng) * 2.0).clamp(5.0, 11.0) * if weekend { 0.3 } else { 1.0 };
    let moment =
        |rng: &mut ChaCha8Rng| at_local(date, start + rng.random_range(0.0..length), &place.city);

    out.set_label(label.cloned());
    // Sign-ins: the first of the day is interactive, later ones mostly token refreshes.
    let sessions = poisson(rng, 6.0 * intensity).max(1);
    let mut times: Vec<DateTime<Utc>> = (0..sessions).map(|_| moment(rng)).collect();
    times.sort();
    for (index, time) in times.iter().enumerate() {
        let app = *pick_weighted(rng, &user.apps);
        let interactive = index == 0 || rng.random_bool(0.3);
        sign_in(rng, user, app, *time, &place, interactive, out);
    }
    // Confluence: an interactive sign-in to Atlassian, then the day's edits.
    let edits = poisson(rng, user.role.confluence_rate() * intensity);
    if edits > 0 {
        let first = moment(rng);
        sign_in(
            rng,
            user,
            app_named("Atlassian Cloud"),
            first,
            &place,
            true,
            out,
        );
        for _ in 0..edits {
            let time =
                first + Duration::seconds(rng.random_range(30..(length * 3600.0) as i64 + 60));
            confluence_edit(rng, user, time, &place, out);
        }
    }
    // AWS: an SSO sign-in, then bursts of calls.
    if let Some(permission_set) = user.role.aws_permission_set() {
        let calls = poisson(rng, user.role.aws_rate() * intensity);
        if calls > 0 {
            let principal = Principal::Sso {
                account: user.aws_account,
                permission_set,
                role_suffix: user.sso_role_suffix.clone(),
                upn: user.upn.clone(),
            };
            let mut time = moment(rng);
            sign_in(
                rng,
                user,
                app_named("AWS IAM Identity Center"),
                time,
                &place,
                true,
                out,
            );
            let console = rng.random_bool(0.35);
            for _ in 0..calls {
                // Mostly seconds apart within a task, now and then a new task later on.
                let gap = if rng.random_bool(0.15) { 5400 } else { 180 };
                time += Duration::seconds(rng.random_range(2..gap));
                aws_call(rng, &principal, permission_set, time, &place, console, out);
            }
        }
    }
    out.set_label(None);
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean)
        .map(|p| p.sample(rng) as u32)
        .unwrap_or(0)
}

/// An ordinary sign-in, with the failures and MFA prompts of real traffic: a mistyped
/// password followed by a retry, an MFA prompt before success, the odd KMSI interrupt.
pub fn sign_in(
    rng: &mut ChaCha8Rng,
    user: &User,
    app: &App,
    time: DateTime<Utc>,
    place: &Whereabouts,
    interactive: bool,
    out: &mut Emitter,
) {
    let device = if rng.random_bool(0.8) {
        &user.devices[0]
    } else {
        &user.devices[1]
    };
    let on_trusted_network = place.named_network.is_some() && device.is_managed;
    let mfa = !on_trusted_network;
    let requirement = if mfa {
        "multiFactorAuthentication"
    } else {
        "singleFactorAuthentication"
    };
    let method = mfa.then(|| {
        if rng.random_bool(0.85) {
            "Mobile app notification"
        } else {
            "OATH verification code"
        }
    });
    let web = app.web || rng.random_bool(0.2);
    let (client_app, browser, agent) = if web {
        ("Browser", device.browser, device.user_agent)
    } else {
        (
            "Mobile Apps and Desktop clients",
            None,
            rich_client_agent(app, device),
        )
    };
    let attempt = |outcome: Outcome,
                   time: DateTime<Utc>,
                   interactive: bool,
                   mfa_method,
                   rng: &mut ChaCha8Rng,
                   out: &mut Emitter| {
        let record = SignIn {
            time,
            user,
            app,
            ip: place.ip.clone(),
            city: place.city,
            device,
            browser,
            user_agent: agent,
            client_app,
            interactive,
            outcome,
            requirement,
            mfa_method,
            named_network: place.named_network.clone(),
            ca_status: if outcome == azure::BLOCKED_BY_CA {
                "failure"
            } else if mfa {
                "success"
            } else {
                "notApplied"
            },
        };
        let json = record.to_json(rng);
        out.push(Source::Azure, time, json);
    };
    if !interactive {
        attempt(azure::SUCCESS, time, false, None, rng, out);
        return;
    }
    let roll: f64 = rng.random();
    let mut time = time;
    if roll < 0.02 {
        attempt(azure::BAD_PASSWORD, time, true, None, rng, out);
        time += Duration::seconds(rng.random_range(5..40));
    } else if roll < 0.05 {
        attempt(azure::KMSI_INTERRUPT, time, true, None, rng, out);
        time += Duration::seconds(rng.random_range(2..10));
    } else if roll < 0.054 && mfa {
        attempt(azure::MFA_FAILED, time, true, method, rng, out);
        time += Duration::seconds(rng.random_range(20..90));
    } else if roll < 0.0555 && !device.is_managed {
        attempt(azure::BLOCKED_BY_CA, time, true, None, rng, out);
        return;
    }
    if mfa && rng.random_bool(0.5) {
        attempt(azure::MFA_REQUIRED, time, true, None, rng, out);
        time += Duration::seconds(rng.random_range(4..30));
    }
    attempt(azure::SUCCESS, time, true, method, rng, out);
}

fn confluence_edit(
    rng: &mut ChaCha8Rng,
    user: &User,
    time: DateTime<Utc>,
    place: &Whereabouts,
    out: &mut Emitter,
) {
    let (summary, category, kind) = *pick_weighted(rng, EVERYDAY);
    let (key, space) = if rng.random_bool(0.6) {
        user.spaces[0]
    } else {
        user.spaces[rng.random_range(0..user.spaces.len())]
    };
    let topic = PAGE_TOPICS[rng.random_range(0..PAGE_TOPICS.len())];
    let affected = match kind {
        "Space" => (space.to_string(), "Space"),
        "User" => (user.display_name.clone(), "User"),
        "Attachment" => (
            format!(
                "{}-{}.png",
                topic.to_lowercase().replace(' ', "-"),
                hex(rng, 4)
            ),
            "Attachment",
        ),
        _ => (format!("{topic} {}", rng.random_range(1..60)), "Page"),
    };
    let changed = match category {
        "Permissions" => vec![
            ("Type", "VIEWSPACE".to_string()),
            ("Space", key.to_string()),
        ],
        "Spaces" => vec![("Space key", key.to_string())],
        _ => vec![],
    };
    let record = AuditRecord {
        time,
        user,
        ip: place.ip.clone(),
        summary,
        category,
        affected,
        changed,
        associated: vec![(space.to_string(), "Space")],
    };
    let json = record.to_json(rng);
    out.push(Source::Confluence, time, json);
}

pub(super) fn aws_call(
    rng: &mut ChaCha8Rng,
    principal: &Principal,
    permission_set: &str,
    time: DateTime<Utc>,
    place: &Whereabouts,
    console: bool,
    out: &mut Emitter,
) {
    let apis = catalogue(permission_set);
    if apis.is_empty() {
        return;
    }
    let (event_source, event_name, read_only, params) = *pick_weighted(rng, apis);
    let region = if rng.random_bool(0.9) {
        place.city.aws_region
    } else {
        "us-east-1"
    };
    let denied = !read_only && rng.random_bool(0.04);
    let user_agent = if console {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    } else {
        "aws-cli/2.15.10 Python/3.11.6 Windows/10 exe/AMD64 prompt/off command/cli"
    };
    ApiCall {
        request: request_parameters(rng, params, region),
        read_only,
        error: if denied {
            ApiCall::access_denied(event_source, event_name)
        } else {
            None
        },
        console,
        ..ApiCall::new(
            time,
            principal,
            (event_source, event_name),
            region,
            place.ip.clone(),
            user_agent,
        )
    }
    .emit(rng, out);
}

/// The CI deploy robot: an IAM user with a long-lived key, calling from CI runners around
/// the clock. It gives the leaked-key scenario a baseline to deviate from.
pub fn ci_robot_day(rng: &mut ChaCha8Rng, robot: &Principal, date: NaiveDate, out: &mut Emitter) {
    const APIS: &[((&str, &str, bool), u32)] = &[
        (("ecr.amazonaws.com", "GetAuthorizationToken", true), 10),
        (("ecr.amazonaws.com", "PutImage", false), 6),
        (("ecs.amazonaws.com", "DescribeServices", true), 6),
        (("ecs.amazonaws.com", "UpdateService", false), 4),
        (
            (
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                false,
            ),
            3,
        ),
        (("sts.amazonaws.com", "GetCallerIdentity", true), 5),
    ];
    let deploys = poisson(rng, 6.0);
    for _ in 0..deploys {
        let mut time = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
            + Duration::seconds(rng.random_range(0..86_400));
        let ip = format!(
            "20.{}.{}.{}",
            rng.random_range(25..120),
            rng.random_range(1..255),
            rng.random_range(1..255)
        );
        for _ in 0..rng.random_range(3..8) {
            let (event_source, event_name, read_only) = *pick_weighted(rng, APIS);
            let agent =
                "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64";
            ApiCall {
                read_only,
                ..ApiCall::new(
                    time,
                    robot,
                    (event_source, event_name),
                    "eu-central-1",
                    ip.clone(),
                    agent,
                )
            }
            .emit(rng, out);
            time += Duration::seconds(rng.random_range(1..20));
        }
    }
}

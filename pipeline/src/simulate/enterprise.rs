//! The simulated enterprise: its people, their roles, offices, devices and habits.
//!
//! Everything is drawn from skewed distributions so that the logs have the long tails
//! real ones have: a few heavy users and many light ones, a browser mix with nulls (rich
//! clients report none) and rare values, and per-user habits that a model can learn and
//! an attacker breaks.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::geo::{City, OFFICES};
use super::ids::{guid, hex};

/// The tenant and domain everybody belongs to.
pub const DOMAIN: &str = "contoso.com";

/// A job family: it decides which apps, Confluence spaces and AWS services a person uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Software engineer: heavy AWS and Confluence user.
    Engineer,
    /// Data scientist: S3, Athena, Glue, SageMaker.
    DataScientist,
    /// IT / cloud administrator: IAM, Organizations, CloudTrail.
    CloudAdmin,
    /// Sales: CRM and mail, little else.
    Sales,
    /// Finance: cost explorer, mail, spreadsheets.
    Finance,
    /// People team.
    HumanResources,
    /// Marketing.
    Marketing,
    /// Executive: mail, Teams, reads Confluence.
    Executive,
}

const ROLES: &[(Role, u32)] = &[
    (Role::Engineer, 32),
    (Role::DataScientist, 10),
    (Role::CloudAdmin, 6),
    (Role::Sales, 16),
    (Role::Finance, 8),
    (Role::HumanResources, 6),
    (Role::Marketing, 14),
    (Role::Executive, 4),
];

impl Role {
    /// The IAM Identity Center permission set the role signs into AWS with, if any.
    pub fn aws_permission_set(self) -> Option<&'static str> {
        match self {
            Role::Engineer => Some("DeveloperAccess"),
            Role::DataScientist => Some("DataScienceAccess"),
            Role::CloudAdmin => Some("AdministratorAccess"),
            Role::Finance => Some("BillingReadOnly"),
            _ => None,
        }
    }

    /// The Confluence space the role's team owns.
    pub fn team_space(self) -> (&'static str, &'static str) {
        match self {
            Role::Engineer => ("ENG", "Engineering"),
            Role::DataScientist => ("DATA", "Data Science"),
            Role::CloudAdmin => ("IT", "IT Operations"),
            Role::Sales => ("SALES", "Sales Space"),
            Role::Finance => ("FIN", "Finance"),
            Role::HumanResources => ("HR", "People"),
            Role::Marketing => ("MKT", "Marketing"),
            Role::Executive => ("EXEC", "Leadership"),
        }
    }

    /// Average Confluence audit events per working day.
    pub fn confluence_rate(self) -> f64 {
        match self {
            Role::Engineer | Role::DataScientist => 3.0,
            Role::CloudAdmin => 2.0,
            Role::Marketing | Role::HumanResources => 2.5,
            Role::Sales | Role::Finance | Role::Executive => 1.0,
        }
    }

    /// Average AWS API calls per working day.
    pub fn aws_rate(self) -> f64 {
        match self {
            Role::Engineer => 28.0,
            Role::DataScientist => 22.0,
            Role::CloudAdmin => 34.0,
            Role::Finance => 4.0,
            _ => 0.0,
        }
    }

    /// Short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Engineer => "engineer",
            Role::DataScientist => "data-scientist",
            Role::CloudAdmin => "cloud-admin",
            Role::Sales => "sales",
            Role::Finance => "finance",
            Role::HumanResources => "hr",
            Role::Marketing => "marketing",
            Role::Executive => "executive",
        }
    }
}

/// A device a person signs in from.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Entra device id; empty for unregistered (personal) devices.
    pub device_id: String,
    /// Device name; empty for unregistered devices.
    pub display_name: String,
    /// `Windows10`, `MacOs`, `Ios`, ...
    pub operating_system: &'static str,
    /// Browser and version; `None` for rich clients, which report none.
    pub browser: Option<&'static str>,
    /// The user agent string sent with the browser.
    pub user_agent: &'static str,
    /// Intune compliant.
    pub is_compliant: bool,
    /// Intune managed.
    pub is_managed: bool,
    /// `Azure AD joined`, `Azure AD registered` or empty.
    pub trust_type: &'static str,
}

/// A person at the enterprise.
#[derive(Debug, Clone)]
pub struct User {
    /// Entra object id.
    pub object_id: String,
    /// `first.last@contoso.com`.
    pub upn: String,
    /// `First Last`.
    pub display_name: String,
    /// Job family.
    pub role: Role,
    /// Home office.
    pub office: City,
    /// Last octets of the office egress address, and of the home broadband address.
    pub office_ip_suffix: [u8; 2],
    /// Home broadband address suffix (same country, same prefix family).
    pub home_ip_suffix: [u8; 2],
    /// Share of sign-ins from home rather than the office.
    pub remote_share: f64,
    /// Devices, the primary first.
    pub devices: Vec<Device>,
    /// Activity multiplier: a few heavy users, many light ones.
    pub activity: f64,
    /// Local hour the working day usually starts.
    pub start_hour: f64,
    /// Entra apps the person uses, with weights.
    pub apps: Vec<(&'static App, u32)>,
    /// Confluence spaces the person works in, the team's first.
    pub spaces: Vec<(&'static str, &'static str)>,
    /// Atlassian account id.
    pub atlassian_id: String,
    /// AWS account the person works in.
    pub aws_account: &'static str,
    /// Random suffix of the person's SSO role name.
    pub sso_role_suffix: String,
}

/// An application registered in Entra ID.
#[derive(Debug, PartialEq, Eq)]
pub struct App {
    /// `AppDisplayName`.
    pub name: &'static str,
    /// `AppId`.
    pub id: &'static str,
    /// `ResourceDisplayName`.
    pub resource: &'static str,
    /// `ResourceIdentity`.
    pub resource_id: &'static str,
    /// Whether it is used from a browser (else from a rich client).
    pub web: bool,
}

const fn app(
    name: &'static str,
    id: &'static str,
    resource: &'static str,
    resource_id: &'static str,
    web: bool,
) -> App {
    App {
        name,
        id,
        resource,
        resource_id,
        web,
    }
}

/// Entra applications of the tenant.
pub static APPS: &[App] = &[
    app(
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
        false,
    ),
    app(
        "Microsoft Teams",
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "Microsoft Teams Services",
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
        false,
    ),
    app(
        "Office 365 SharePoint Online",
        "00000003-0000-0ff1-ce00-000000000000",
        "Office 365 SharePoint Online",
        "00000003-0000-0ff1-ce00-000000000000",
        true,
    ),
    app(
        "Microsoft Office",
        "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        "Microsoft Graph",
        "00000003-0000-0000-c000-000000000000",
        false,
    ),
    app(
        "Azure Portal",
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        true,
    ),
    app(
        "AWS IAM Identity Center",
        "7ac0b0b4-77bb-4e5e-9c5c-2c2f9bd1c2a1",
        "AWS IAM Identity Center",
        "7ac0b0b4-77bb-4e5e-9c5c-2c2f9bd1c2a1",
        true,
    ),
    app(
        "Atlassian Cloud",
        "3a1f0f5e-1d5c-4d73-a2c4-6f5f2b8b7e10",
        "Atlassian Cloud",
        "3a1f0f5e-1d5c-4d73-a2c4-6f5f2b8b7e10",
        true,
    ),
    app(
        "Salesforce",
        "5d0c3b8e-5e41-4bcb-8a6b-0d5e0a8f11c4",
        "Salesforce",
        "5d0c3b8e-5e41-4bcb-8a6b-0d5e0a8f11c4",
        true,
    ),
    app(
        "Workday",
        "8b1025e4-1dd2-430b-a150-2ef79cd700f5",
        "Workday",
        "8b1025e4-1dd2-430b-a150-2ef79cd700f5",
        true,
    ),
    app(
        "GitHub Enterprise Cloud",
        "9d1b7d2a-3f0c-4a1e-8c3a-6e5f0d1c2b3a",
        "GitHub Enterprise Cloud",
        "9d1b7d2a-3f0c-4a1e-8c3a-6e5f0d1c2b3a",
        true,
    ),
    app(
        "Zoom",
        "ce4d5f2a-8b6c-4c5e-9d3f-2a1b0c9d8e7f",
        "Zoom",
        "ce4d5f2a-8b6c-4c5e-9d3f-2a1b0c9d8e7f",
        true,
    ),
];

/// An app by display name.
pub fn app_named(name: &str) -> &'static App {
    APPS.iter().find(|app| app.name == name).unwrap_or(&APPS[0])
}

const FIRST: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Grace", "Hannah", "Ivan", "Julia", "Karim",
    "Lena", "Marco", "Nina", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tara", "Uwe", "Vera",
    "Wei", "Xenia", "Yusuf", "Zoe", "Arjun", "Priya", "Tom", "Sofia", "Lukas", "Maja", "Jonas",
    "Emily", "Noah", "Mia", "Liam", "Ava", "Kenji", "Aiko",
];
const LAST: &[&str] = &[
    "Schmidt", "Muller", "Smith", "Jones", "Kowalski", "Nowak", "de Vries", "Jansen", "Garcia",
    "Rossi", "Patel", "Sharma", "Chen", "Wang", "Kim", "Brown", "Taylor", "Weber", "Wagner",
    "Becker", "Hoffmann", "Fischer", "Novak", "Dubois", "Martin", "Silva", "Tanaka", "Cohen",
];

/// Primary-device profiles: (weight, OS, browser, user agent, managed).
const DEVICES: &[(u32, &str, Option<&str>, &str, bool)] = &[
    (
        34,
        "Windows10",
        Some("Edge 120.0.0"),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        true,
    ),
    (
        26,
        "Windows10",
        Some("Chrome 120.0.0"),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        true,
    ),
    (
        16,
        "MacOs",
        Some("Chrome 120.0.0"),
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        true,
    ),
    (
        9,
        "MacOs",
        Some("Safari 17.1"),
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        true,
    ),
    (
        7,
        "Linux",
        Some("Firefox 121.0"),
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        false,
    ),
    (
        5,
        "Windows10",
        Some("Firefox 121.0"),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        true,
    ),
    (
        1,
        "Windows10",
        Some("Opera 105.0.0"),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
        true,
    ),
    (
        1,
        "Windows81",
        Some("IE 11.0"),
        "Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko",
        true,
    ),
];

/// Phones: (weight, OS, browser, user agent).
const PHONES: &[(u32, &str, Option<&str>, &str)] = &[
    (
        50,
        "Ios",
        Some("Mobile Safari 17.1"),
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    ),
    (
        38,
        "Android",
        Some("Chrome Mobile 120.0.0"),
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    ),
    (
        2,
        "Android",
        Some("Samsung Internet 23.0"),
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    ),
];

/// AWS accounts: production, development, data.
pub const AWS_ACCOUNTS: [&str; 3] = ["482913665210", "731542908817", "205918374462"];

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (item, weight) in items {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    &items[items.len() - 1].0
}

/// Draws one value from a weighted list.
pub fn pick_weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    weighted(rng, items)
}

/// Builds `count` people, deterministically for a given RNG state.
pub fn people(rng: &mut ChaCha8Rng, count: usize) -> Vec<User> {
    let activity = LogNormal::new(0.0, 0.6).expect("valid log-normal parameters");
    let mut taken = std::collections::HashSet::new();
    (0..count)
        .map(|index| {
            let role = *weighted(rng, ROLES);
            let office = *weighted(rng, OFFICES);
            let first = *FIRST.choose(rng).unwrap_or(&"Alex");
            let last = *LAST.choose(rng).unwrap_or(&"Doe");
            let base = format!(
                "{}.{}",
                first.to_lowercase(),
                last.to_lowercase().replace(' ', "")
            );
            let local = if taken.insert(base.clone()) {
                base
            } else {
                format!("{base}{index}")
            };
            let devices = devices_for(rng, role);
            User {
                object_id: guid(rng),
                upn: format!("{local}@{DOMAIN}"),
                display_name: format!("{first} {last}"),
                role,
                office,
                office_ip_suffix: [rng.random_range(1..250), rng.random_range(1..250)],
                home_ip_suffix: [rng.random_range(1..250), rng.random_range(1..250)],
                remote_share: rng.random_range(0.1..0.6),
                devices,
                activity: f64::clamp(activity.sample(rng), 0.15, 4.0),
                start_hour: rng.random_range(7.0..10.0),
                apps: apps_for(rng, role),
                spaces: spaces_for(rng, role),
                atlassian_id: format!("5f{}", hex(rng, 22)),
                aws_account: match role {
                    Role::DataScientist => AWS_ACCOUNTS[2],
                    Role::Engineer if rng.random_bool(0.5) => AWS_ACCOUNTS[1],
                    _ => AWS_ACCOUNTS[0],
                },
                sso_role_suffix: hex(rng, 16),
            }
        })
        .collect()
}

fn devices_for(rng: &mut ChaCha8Rng, role: Role) -> Vec<Device> {
    let profiles: Vec<_> = DEVICES
        .iter()
        .filter(|(_, os, ..)| role == Role::Engineer || *os != "Linux")
        .map(|profile| (profile, profile.0))
        .collect();
    let (_, os, browser, agent, managed) = **weighted(rng, &profiles);
    let laptop = Device {
        device_id: if managed { guid(rng) } else { String::new() },
        display_name: if managed {
            format!("CONTOSO-{}", hex(rng, 6).to_uppercase())
        } else {
            String::new()
        },
        operating_system: os,
        browser,
        user_agent: agent,
        is_compliant: managed,
        is_managed: managed,
        trust_type: if managed { "Azure AD joined" } else { "" },
    };
    let phone_profiles: Vec<_> = PHONES.iter().map(|p| (p, p.0)).collect();
    let (_, os, browser, agent) = **weighted(rng, &phone_profiles);
    let registered = rng.random_bool(0.6);
    let phone = Device {
        device_id: if registered { guid(rng) } else { String::new() },
        display_name: if registered {
            format!("{os} phone")
        } else {
            String::new()
        },
        operating_system: os,
        browser,
        user_agent: agent,
        is_compliant: registered,
        is_managed: registered,
        trust_type: if registered {
            "Azure AD registered"
        } else {
            ""
        },
    };
    vec![laptop, phone]
}

fn apps_for(rng: &mut ChaCha8Rng, role: Role) -> Vec<(&'static App, u32)> {
    let mut apps = vec![
        (app_named("Office 365 Exchange Online"), 30),
        (app_named("Microsoft Teams"), 26),
        (app_named("Office 365 SharePoint Online"), 10),
        (app_named("Microsoft Office"), 8),
        (app_named("Atlassian Cloud"), 6),
    ];
    let extra: &[(&str, u32)] = match role {
        Role::Engineer => &[
            ("AWS IAM Identity Center", 10),
            ("GitHub Enterprise Cloud", 12),
            ("Azure Portal", 2),
        ],
        Role::DataScientist => &[
            ("AWS IAM Identity Center", 12),
            ("GitHub Enterprise Cloud", 5),
        ],
        Role::CloudAdmin => &[("AWS IAM Identity Center", 14), ("Azure Portal", 10)],
        Role::Sales => &[("Salesforce", 22), ("Zoom", 6)],
        Role::Finance => &[("Workday", 8), ("AWS IAM Identity Center", 3)],
        Role::HumanResources => &[("Workday", 20)],
        Role::Marketing => &[("Salesforce", 6), ("Zoom", 8)],
        Role::Executive => &[("Workday", 3), ("Zoom", 10)],
    };
    apps.extend(
        extra
            .iter()
            .map(|(name, weight)| (app_named(name), *weight)),
    );
    // Personal taste: each weight jitters, so two engineers do not look identical.
    for (_, weight) in apps.iter_mut() {
        *weight = (*weight as f64 * rng.random_range(0.5..1.5))
            .round()
            .max(1.0) as u32;
    }
    apps
}

fn spaces_for(rng: &mut ChaCha8Rng, role: Role) -> Vec<(&'static str, &'static str)> {
    let mut spaces = vec![role.team_space(), ("COMPANY", "Company Home")];
    let others = [
        ("HANDBOOK", "Employee Handbook"),
        ("ARCH", "Architecture"),
        ("PROD", "Product"),
        ("SEC", "Security"),
    ];
    for space in others {
        if rng.random_bool(0.3) {
            spaces.push(space);
        }
    }
    spaces
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn people_are_deterministic_and_unique() {
        let first = people(&mut ChaCha8Rng::seed_from_u64(7), 200);
        let second = people(&mut ChaCha8Rng::seed_from_u64(7), 200);
        let upns: std::collections::HashSet<_> = first.iter().map(|u| &u.upn).collect();
        assert_eq!(upns.len(), 200);
        assert_eq!(
            first.iter().map(|u| &u.upn).collect::<Vec<_>>(),
            second.iter().map(|u| &u.upn).collect::<Vec<_>>()
        );
        let heavy = first.iter().filter(|u| u.activity > 2.0).count();
        let light = first.iter().filter(|u| u.activity < 0.6).count();
        assert!(
            heavy > 0 && light > heavy,
            "skewed activity: {heavy} heavy, {light} light"
        );
    }
}

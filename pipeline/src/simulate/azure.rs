//! Entra ID sign-in records in the Log Analytics / Sentinel `SigninLogs` shape: its
//! column names and order, `ResultType` as text, `Status`, `DeviceDetail` and
//! `LocationDetails` as objects, and the columns Log Analytics stores as JSON text
//! (`AuthenticationDetails`, `NetworkLocationDetails`, ...) as strings.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::enterprise::{App, Device, User};
use super::geo::City;
use super::ids::guid;

/// The tenant id of the simulated enterprise.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// How a sign-in ended: `ResultType` and its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// `ResultType`.
    pub code: &'static str,
    /// `ResultDescription` and `Status.failureReason`.
    pub description: &'static str,
}

/// Success.
pub const SUCCESS: Outcome = Outcome {
    code: "0",
    description: "",
};
/// Wrong password.
pub const BAD_PASSWORD: Outcome = Outcome {
    code: "50126",
    description: "Error validating credentials due to invalid username or password.",
};
/// MFA required: the user is sent to a second factor.
pub const MFA_REQUIRED: Outcome = Outcome {
    code: "50074",
    description: "Strong Authentication is required.",
};
/// Keep-me-signed-in interrupt.
pub const KMSI_INTERRUPT: Outcome = Outcome {
    code: "50140",
    description: "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
};
/// Second factor failed or denied.
pub const MFA_FAILED: Outcome = Outcome {
    code: "500121",
    description: "Authentication failed during strong authentication request.",
};
/// Blocked by a Conditional Access policy.
pub const BLOCKED_BY_CA: Outcome = Outcome {
    code: "53003",
    description: "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
};
/// Smart lockout.
pub const LOCKED_OUT: Outcome = Outcome {
    code: "50053",
    description: "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
};

/// One sign-in, before it is written out.
pub struct SignIn<'a> {
    /// When.
    pub time: DateTime<Utc>,
    /// Who.
    pub user: &'a User,
    /// Into which application.
    pub app: &'a App,
    /// From which address.
    pub ip: String,
    /// Where that address is.
    pub city: City,
    /// From which device.
    pub device: &'a Device,
    /// Browser as Entra ID reports it: `None` for rich clients.
    pub browser: Option<&'static str>,
    /// The user agent sent.
    pub user_agent: &'static str,
    /// `Browser` or `Mobile Apps and Desktop clients`.
    pub client_app: &'static str,
    /// Interactive (a person typed) or not (a token refresh).
    pub interactive: bool,
    /// The result.
    pub outcome: Outcome,
    /// `singleFactorAuthentication` or `multiFactorAuthentication`.
    pub requirement: &'static str,
    /// Second-factor method, when one was used.
    pub mfa_method: Option<&'static str>,
    /// Named network (office), when the address is in one.
    pub named_network: Option<String>,
    /// `success`, `failure` or `notApplied`.
    pub ca_status: &'static str,
}

impl SignIn<'_> {
    /// The Log Analytics record.
    pub fn to_json(&self, rng: &mut ChaCha8Rng) -> Value {
        let time = self.time.to_rfc3339_opts(SecondsFormat::Micros, true);
        let (id, correlation, token, request) = (guid(rng), guid(rng), guid(rng), guid(rng));
        let failure = if self.outcome.code == "0" {
            json!({"errorCode": 0})
        } else {
            json!({"errorCode": self.outcome.code.parse::<u32>().unwrap_or(0),
                   "failureReason": self.outcome.description,
                   "additionalDetails": additional_details(self.outcome)})
        };
        let methods = match (self.outcome.code, self.mfa_method) {
            ("50126", _) => {
                "[{\"authenticationMethod\":\"Password\",\"succeeded\":false}]".to_string()
            }
            (_, Some(method)) => format!(
                "[{{\"authenticationMethod\":\"Password\",\"succeeded\":true}},{{\"authenticationMethod\":\"{method}\",\"succeeded\":{}}}]",
                self.outcome.code != "500121"
            ),
            _ if self.interactive => {
                "[{\"authenticationMethod\":\"Password\",\"succeeded\":true}]".to_string()
            }
            _ => "[{\"authenticationMethod\":\"Previously satisfied\",\"succeeded\":true}]"
                .to_string(),
        };
        let network = match &self.named_network {
            Some(name) => {
                format!("[{{\"networkType\":\"namedNetwork\",\"networkNames\":[\"{name}\"]}}]")
            }
            None => "[]".to_string(),
        };
        let mfa_detail = match self.mfa_method {
            Some(method) => json!({"authMethod": method}),
            None => json!({}),
        };
        let category = if self.interactive {
            "SignInLogs"
        } else {
            "NonInteractiveUserSignInLogs"
        };
        let latency = rng.random_range(40..400);
        json!({
            "TenantId": TENANT_ID,
            "SourceSystem": "Azure AD",
            "TimeGenerated": time,
            "ResourceId": format!("/tenants/{TENANT_ID}/providers/Microsoft.aadiam"),
            "OperationName": "Sign-in activity",
            "OperationVersion": "1.0",
            "Category": category,
            "ResultType": self.outcome.code,
            "ResultSignature": "None",
            "ResultDescription": self.outcome.description,
            "DurationMs": 0,
            "CorrelationId": correlation,
            "Resource": "Microsoft.aadiam",
            "ResourceGroup": "Microsoft.aadiam",
            "Identity": self.user.display_name,
            "Level": "4",
            "Location": self.city.country,
            "AlternateSignInName": self.user.upn,
            "AppDisplayName": self.app.name,
            "AppId": self.app.id,
            "AuthenticationDetails": methods,
            "AuthenticationProcessingDetails": "[{\"key\":\"Legacy TLS (TLS 1.0, 1.1, 3DES)\",\"value\":\"False\"},{\"key\":\"Is CAE Token\",\"value\":\"False\"}]",
            "AuthenticationRequirement": self.requirement,
            "AuthenticationRequirementPolicies": "[]",
            "ClientAppUsed": self.client_app,
            "ConditionalAccessPolicies": ca_policies(self.ca_status, self.requirement),
            "ConditionalAccessStatus": self.ca_status,
            "CreatedDateTime": time,
            "DeviceDetail": {
                "deviceId": self.device.device_id,
                "displayName": self.device.display_name,
                "operatingSystem": self.device.operating_system,
                "browser": self.browser,
                "isCompliant": self.device.is_compliant,
                "isManaged": self.device.is_managed,
                "trustType": self.device.trust_type,
            },
            "IsInteractive": self.interactive,
            "Id": id,
            "IPAddress": self.ip,
            "IsRisky": false,
            "LocationDetails": {
                "city": self.city.city,
                "state": self.city.state,
                "countryOrRegion": self.city.country,
                "geoCoordinates": {"latitude": self.city.latitude, "longitude": self.city.longitude},
            },
            "MfaDetail": mfa_detail,
            "NetworkLocationDetails": network,
            "OriginalRequestId": request,
            "ProcessingTimeInMilliseconds": latency,
            "RiskDetail": "none",
            "RiskEventTypes": "[]",
            "RiskEventTypes_V2": "[]",
            "RiskLevelAggregated": "none",
            "RiskLevelDuringSignIn": "none",
            "RiskState": "none",
            "ResourceDisplayName": self.app.resource,
            "ResourceIdentity": self.app.resource_id,
            "ServicePrincipalId": "",
            "Status": failure,
            "TokenIssuerType": "AzureAD",
            "UserAgent": self.user_agent,
            "UserDisplayName": self.user.display_name,
            "UserId": self.user.object_id,
            "UserPrincipalName": self.user.upn,
            "AADTenantId": TENANT_ID,
            "UserType": "Member",
            "SignInIdentifier": self.user.upn,
            "HomeTenantId": TENANT_ID,
            "ResourceTenantId": TENANT_ID,
            "UniqueTokenIdentifier": token,
            "SessionLifetimePolicies": "[]",
            "AutonomousSystemNumber": self.city.asn,
            "AuthenticationProtocol": "none",
            "CrossTenantAccessType": "none",
            "Type": "SigninLogs",
        })
    }
}

fn additional_details(outcome: Outcome) -> &'static str {
    match outcome.code {
        "50074" => "MFA required in Azure AD",
        "50140" => "Keep me signed in interrupt",
        "500121" => "MFA denied; user declined the authentication",
        "53003" => "Blocked by Conditional Access",
        "50053" => "Account locked",
        _ => "The user didn't enter the right credentials.",
    }
}

fn ca_policies(status: &str, requirement: &str) -> Value {
    let mfa_result = match (status, requirement) {
        ("failure", _) => "failure",
        (_, "multiFactorAuthentication") => "success",
        _ => "notApplied",
    };
    json!([
        {"id": "7b2a4c1e-2f65-4f3b-9d0a-1c1f7d9e8a01", "displayName": "Require MFA off corporate network",
         "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [], "result": mfa_result},
        {"id": "0f3e5b2d-6c74-4e19-8a1b-52d8e7c4f902", "displayName": "Block legacy authentication",
         "enforcedGrantControls": ["Block"], "enforcedSessionControls": [], "result": "notApplied"},
    ])
}

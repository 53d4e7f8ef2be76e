//! AWS CloudTrail records: management events of IAM Identity Center (SSO) sessions and
//! IAM users, and S3 data events, with the field order CloudTrail writes.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::ids::{alnum_upper, guid};

/// Who made the call.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person through IAM Identity Center: an assumed role whose session name is the UPN.
    Sso {
        /// Account.
        account: &'static str,
        /// Permission set (`DeveloperAccess`).
        permission_set: &'static str,
        /// Random suffix of the SSO role name.
        role_suffix: String,
        /// Session name: the UPN.
        upn: String,
    },
    /// A long-lived IAM user (service accounts, and the occasional leaked key).
    IamUser {
        /// Account.
        account: &'static str,
        /// IAM user name.
        name: String,
        /// Its access key id.
        access_key: String,
    },
}

impl Principal {
    fn account(&self) -> &'static str {
        match self {
            Principal::Sso { account, .. } | Principal::IamUser { account, .. } => account,
        }
    }

    fn to_json(&self, rng: &mut ChaCha8Rng, time: DateTime<Utc>, console: bool) -> Value {
        match self {
            Principal::Sso {
                account,
                permission_set,
                role_suffix,
                upn,
            } => {
                let role = format!("AWSReservedSSO_{permission_set}_{role_suffix}");
                let role_id = format!("AROA{}", &role_suffix.to_uppercase()[..12]);
                let session_start = time - chrono::Duration::minutes(rng.random_range(1..240));
                json!({
                    "type": "AssumedRole",
                    "principalId": format!("{role_id}:{upn}"),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{upn}"),
                    "accountId": account,
                    "accessKeyId": format!("ASIA{}", alnum_upper(rng, 16)),
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": role_id,
                            "arn": format!("arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{role}"),
                            "accountId": account,
                            "userName": role,
                        },
                        "webIdFederationData": {},
                        "attributes": {
                            "creationDate": session_start.to_rfc3339_opts(SecondsFormat::Secs, true),
                            "mfaAuthenticated": if console { "true" } else { "false" },
                        },
                    },
                })
            }
            Principal::IamUser {
                account,
                name,
                access_key,
            } => json!({
                "type": "IAMUser",
                "principalId": format!("AIDA{}", &access_key[4..]),
                "arn": format!("arn:aws:iam::{account}:user/{name}"),
                "accountId": account,
                "accessKeyId": access_key,
                "userName": name,
            }),
        }
    }
}

/// One API call.
pub struct ApiCall<'a> {
    /// When.
    pub time: DateTime<Utc>,
    /// Who.
    pub principal: &'a Principal,
    /// `s3.amazonaws.com`.
    pub event_source: &'static str,
    /// `ListBuckets`.
    pub event_name: &'static str,
    /// Region.
    pub region: &'static str,
    /// Caller address (an AWS service name for console calls made on the user's behalf).
    pub source_ip: String,
    /// Caller user agent.
    pub user_agent: &'static str,
    /// Request parameters, or null.
    pub request: Value,
    /// Response elements, or null.
    pub response: Value,
    /// Read-only call.
    pub read_only: bool,
    /// `AccessDenied` and friends.
    pub error: Option<(&'static str, String)>,
    /// A data event (S3 object level) rather than a management event.
    pub data_event: bool,
    /// Resources touched (data events).
    pub resources: Option<Value>,
    /// Made from the AWS console.
    pub console: bool,
    /// Extra fields for sign-in events (`additionalEventData`).
    pub additional: Option<Value>,
}

impl<'a> ApiCall<'a> {
    /// A read-only management call without parameters, response or error: the common
    /// case, adjusted by callers with struct-update syntax.
    pub fn new(
        time: DateTime<Utc>,
        principal: &'a Principal,
        (event_source, event_name): (&'static str, &'static str),
        region: &'static str,
        source_ip: String,
        user_agent: &'static str,
    ) -> Self {
        ApiCall {
            time,
            principal,
            event_source,
            event_name,
            region,
            source_ip,
            user_agent,
            request: Value::Null,
            response: Value::Null,
            read_only: true,
            error: None,
            data_event: false,
            resources: None,
            console: false,
            additional: None,
        }
    }

    /// Renders the record into `out`.
    pub fn emit(self, rng: &mut ChaCha8Rng, out: &mut super::Emitter) {
        let json = self.to_json(rng);
        out.push(schemas::Source::CloudTrail, self.time, json);
    }

    /// The `AccessDenied` error CloudTrail records for a refused call.
    pub fn access_denied(event_source: &str, event_name: &str) -> Option<(&'static str, String)> {
        let service = event_source.trim_end_matches(".amazonaws.com");
        Some((
            "AccessDenied",
            format!("User is not authorized to perform: {service}:{event_name}"),
        ))
    }

    /// The CloudTrail record.
    pub fn to_json(&self, rng: &mut ChaCha8Rng) -> Value {
        let account = self.principal.account();
        let mut record = serde_json::Map::new();
        record.insert(
            "eventVersion".into(),
            json!(if self.data_event { "1.09" } else { "1.08" }),
        );
        record.insert(
            "userIdentity".into(),
            self.principal.to_json(rng, self.time, self.console),
        );
        record.insert(
            "eventTime".into(),
            json!(self.time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        record.insert("eventSource".into(), json!(self.event_source));
        record.insert("eventName".into(), json!(self.event_name));
        record.insert("awsRegion".into(), json!(self.region));
        record.insert("sourceIPAddress".into(), json!(self.source_ip));
        record.insert("userAgent".into(), json!(self.user_agent));
        if let Some((code, message)) = &self.error {
            record.insert("errorCode".into(), json!(code));
            record.insert("errorMessage".into(), json!(message));
        }
        record.insert("requestParameters".into(), self.request.clone());
        record.insert("responseElements".into(), self.response.clone());
        if let Some(additional) = &self.additional {
            record.insert("additionalEventData".into(), additional.clone());
        }
        record.insert("requestID".into(), json!(alnum_upper(rng, 16)));
        record.insert("eventID".into(), json!(guid(rng)));
        record.insert("readOnly".into(), json!(self.read_only));
        if let Some(resources) = &self.resources {
            record.insert("resources".into(), resources.clone());
        }
        record.insert(
            "eventType".into(),
            json!(if self.event_name == "ConsoleLogin" {
                "AwsConsoleSignIn"
            } else {
                "AwsApiCall"
            }),
        );
        record.insert("managementEvent".into(), json!(!self.data_event));
        record.insert("recipientAccountId".into(), json!(account));
        record.insert(
            "eventCategory".into(),
            json!(if self.data_event {
                "Data"
            } else {
                "Management"
            }),
        );
        if self.event_name != "ConsoleLogin" {
            record.insert(
                "tlsDetails".into(),
                json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": host(self.event_source, self.region)}),
            );
        }
        if self.console {
            record.insert("sessionCredentialFromConsole".into(), json!("true"));
        }
        Value::Object(record)
    }
}

fn host(event_source: &str, region: &str) -> String {
    let service = event_source.trim_end_matches(".amazonaws.com");
    match service {
        // IAM and Organizations are global services with one endpoint.
        "iam" | "organizations" => format!("{service}.amazonaws.com"),
        _ => format!("{service}.{region}.amazonaws.com"),
    }
}

/// Kinds of request parameters an API takes, filled with the caller's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// No parameters (`null`).
    None,
    /// A bucket name.
    Bucket,
    /// A bucket and key (data events).
    Object,
    /// A list of instance ids.
    Instances,
    /// A Lambda function name.
    Function,
    /// A log group name.
    LogGroup,
    /// An Athena query.
    Query,
    /// A Glue database and table.
    Table,
    /// An IAM user or role name.
    IamName,
    /// A repository name.
    Repository,
    /// A time period (cost explorer).
    Period,
    /// A trail name.
    Trail,
    /// A SageMaker notebook instance name.
    Notebook,
    /// A DynamoDB table name.
    DynamoTable,
}

/// One entry of the API catalogue: (event source, event name, read-only, params).
pub type Api = (&'static str, &'static str, bool, Params);

/// The APIs each AWS-using role calls, with weights.
pub fn catalogue(permission_set: &str) -> &'static [(Api, u32)] {
    match permission_set {
        "DeveloperAccess" => &[
            (
                ("ec2.amazonaws.com", "DescribeInstances", true, Params::None),
                14,
            ),
            (
                (
                    "ec2.amazonaws.com",
                    "DescribeSecurityGroups",
                    true,
                    Params::None,
                ),
                4,
            ),
            (
                (
                    "ec2.amazonaws.com",
                    "StartInstances",
                    false,
                    Params::Instances,
                ),
                2,
            ),
            (
                (
                    "ec2.amazonaws.com",
                    "StopInstances",
                    false,
                    Params::Instances,
                ),
                2,
            ),
            (("s3.amazonaws.com", "ListBuckets", true, Params::None), 6),
            (
                (
                    "s3.amazonaws.com",
                    "GetBucketLocation",
                    true,
                    Params::Bucket,
                ),
                5,
            ),
            (
                ("s3.amazonaws.com", "GetBucketPolicy", true, Params::Bucket),
                1,
            ),
            (
                (
                    "lambda.amazonaws.com",
                    "ListFunctions20150331",
                    true,
                    Params::None,
                ),
                5,
            ),
            (
                (
                    "lambda.amazonaws.com",
                    "GetFunction20150331v2",
                    true,
                    Params::Function,
                ),
                4,
            ),
            (
                (
                    "lambda.amazonaws.com",
                    "UpdateFunctionCode20150331v2",
                    false,
                    Params::Function,
                ),
                2,
            ),
            (
                (
                    "logs.amazonaws.com",
                    "DescribeLogGroups",
                    true,
                    Params::None,
                ),
                6,
            ),
            (
                (
                    "logs.amazonaws.com",
                    "FilterLogEvents",
                    true,
                    Params::LogGroup,
                ),
                8,
            ),
            (
                (
                    "ecr.amazonaws.com",
                    "GetAuthorizationToken",
                    true,
                    Params::None,
                ),
                5,
            ),
            (
                (
                    "ecr.amazonaws.com",
                    "DescribeRepositories",
                    true,
                    Params::None,
                ),
                2,
            ),
            (
                (
                    "ecr.amazonaws.com",
                    "BatchGetImage",
                    true,
                    Params::Repository,
                ),
                3,
            ),
            (
                ("eks.amazonaws.com", "DescribeCluster", true, Params::None),
                4,
            ),
            (
                (
                    "dynamodb.amazonaws.com",
                    "DescribeTable",
                    true,
                    Params::DynamoTable,
                ),
                3,
            ),
            (
                (
                    "cloudformation.amazonaws.com",
                    "DescribeStacks",
                    true,
                    Params::None,
                ),
                4,
            ),
            (
                ("sts.amazonaws.com", "GetCallerIdentity", true, Params::None),
                3,
            ),
        ],
        "DataScienceAccess" => &[
            (("s3.amazonaws.com", "ListBuckets", true, Params::None), 4),
            (
                (
                    "s3.amazonaws.com",
                    "GetBucketLocation",
                    true,
                    Params::Bucket,
                ),
                4,
            ),
            (
                (
                    "athena.amazonaws.com",
                    "StartQueryExecution",
                    false,
                    Params::Query,
                ),
                10,
            ),
            (
                (
                    "athena.amazonaws.com",
                    "GetQueryExecution",
                    true,
                    Params::None,
                ),
                12,
            ),
            (
                (
                    "athena.amazonaws.com",
                    "GetQueryResults",
                    true,
                    Params::None,
                ),
                8,
            ),
            (("glue.amazonaws.com", "GetTables", true, Params::Table), 6),
            (
                ("glue.amazonaws.com", "GetDatabases", true, Params::None),
                3,
            ),
            (
                ("glue.amazonaws.com", "StartJobRun", false, Params::None),
                2,
            ),
            (
                (
                    "sagemaker.amazonaws.com",
                    "ListNotebookInstances",
                    true,
                    Params::None,
                ),
                3,
            ),
            (
                (
                    "sagemaker.amazonaws.com",
                    "StartNotebookInstance",
                    false,
                    Params::Notebook,
                ),
                1,
            ),
            (
                (
                    "sagemaker.amazonaws.com",
                    "CreatePresignedNotebookInstanceUrl",
                    false,
                    Params::Notebook,
                ),
                3,
            ),
            (
                ("sts.amazonaws.com", "GetCallerIdentity", true, Params::None),
                2,
            ),
        ],
        "AdministratorAccess" => &[
            (("iam.amazonaws.com", "ListUsers", true, Params::None), 6),
            (("iam.amazonaws.com", "ListRoles", true, Params::None), 6),
            (("iam.amazonaws.com", "GetRole", true, Params::IamName), 5),
            (
                (
                    "iam.amazonaws.com",
                    "ListAttachedRolePolicies",
                    true,
                    Params::IamName,
                ),
                4,
            ),
            (("iam.amazonaws.com", "GetUser", true, Params::IamName), 3),
            (
                (
                    "iam.amazonaws.com",
                    "AttachRolePolicy",
                    false,
                    Params::IamName,
                ),
                1,
            ),
            (
                (
                    "organizations.amazonaws.com",
                    "ListAccounts",
                    true,
                    Params::None,
                ),
                3,
            ),
            (
                (
                    "organizations.amazonaws.com",
                    "DescribeOrganization",
                    true,
                    Params::None,
                ),
                2,
            ),
            (
                (
                    "cloudtrail.amazonaws.com",
                    "DescribeTrails",
                    true,
                    Params::None,
                ),
                3,
            ),
            (
                (
                    "cloudtrail.amazonaws.com",
                    "GetTrailStatus",
                    true,
                    Params::Trail,
                ),
                3,
            ),
            (
                (
                    "cloudtrail.amazonaws.com",
                    "LookupEvents",
                    true,
                    Params::None,
                ),
                4,
            ),
            (
                (
                    "config.amazonaws.com",
                    "DescribeConfigRules",
                    true,
                    Params::None,
                ),
                2,
            ),
            (
                ("ec2.amazonaws.com", "DescribeInstances", true, Params::None),
                8,
            ),
            (("ec2.amazonaws.com", "DescribeVpcs", true, Params::None), 4),
            (
                (
                    "ec2.amazonaws.com",
                    "AuthorizeSecurityGroupIngress",
                    false,
                    Params::None,
                ),
                1,
            ),
            (("s3.amazonaws.com", "ListBuckets", true, Params::None), 4),
            (
                ("s3.amazonaws.com", "GetBucketAcl", true, Params::Bucket),
                3,
            ),
            (
                (
                    "guardduty.amazonaws.com",
                    "ListFindings",
                    true,
                    Params::None,
                ),
                3,
            ),
            (
                ("sts.amazonaws.com", "GetCallerIdentity", true, Params::None),
                2,
            ),
        ],
        "BillingReadOnly" => &[
            (
                ("ce.amazonaws.com", "GetCostAndUsage", true, Params::Period),
                10,
            ),
            (
                ("ce.amazonaws.com", "GetCostForecast", true, Params::Period),
                3,
            ),
            (
                (
                    "budgets.amazonaws.com",
                    "DescribeBudgets",
                    true,
                    Params::None,
                ),
                3,
            ),
        ],
        _ => &[],
    }
}

/// Buckets of each account.
pub const BUCKETS: &[&str] = &[
    "contoso-prod-artifacts",
    "contoso-prod-backups",
    "contoso-dev-scratch",
    "contoso-datalake-raw",
    "contoso-datalake-curated",
    "contoso-finance-reports",
    "contoso-customer-exports",
];

/// Request parameters for `params`, drawn for one call.
pub fn request_parameters(rng: &mut ChaCha8Rng, params: Params, region: &str) -> Value {
    let pick =
        |rng: &mut ChaCha8Rng, items: &[&'static str]| items[rng.random_range(0..items.len())];
    match params {
        Params::None => Value::Null,
        Params::Bucket => {
            json!({"bucketName": pick(rng, BUCKETS), "Host": format!("s3.{region}.amazonaws.com")})
        }
        Params::Object => {
            json!({"bucketName": pick(rng, BUCKETS), "key": format!("exports/{}.csv", rng.random_range(1000..9999))})
        }
        Params::Instances => {
            json!({"instancesSet": {"items": [{"instanceId": format!("i-0{:016x}", rng.random_range(1u64..u64::MAX >> 4) )}]}})
        }
        Params::Function => {
            json!({"functionName": pick(rng, &["orders-api", "billing-worker", "thumbnailer", "auth-hook"])})
        }
        Params::LogGroup => {
            json!({"logGroupName": pick(rng, &["/aws/lambda/orders-api", "/aws/eks/prod/cluster", "/ecs/web"]), "limit": 100})
        }
        Params::Query => {
            json!({"queryString": pick(rng, &["SELECT * FROM events LIMIT 100", "SELECT count(*) FROM orders WHERE day = current_date", "SELECT user_id, sum(total) FROM orders GROUP BY 1"]), "workGroup": "primary"})
        }
        Params::Table => json!({"databaseName": pick(rng, &["raw", "curated", "marketing"])}),
        Params::IamName => {
            json!({"roleName": pick(rng, &["eks-node-role", "lambda-exec", "ci-deployer", "readonly-auditor"])})
        }
        Params::Repository => {
            json!({"repositoryName": pick(rng, &["web", "orders-api", "worker"]), "imageIds": [{"imageTag": "latest"}]})
        }
        Params::Period => {
            json!({"timePeriod": {"start": "2026-10-01", "end": "2026-11-01"}, "granularity": "DAILY"})
        }
        Params::Trail => json!({"name": "org-trail"}),
        Params::Notebook => {
            json!({"notebookInstanceName": pick(rng, &["churn-model", "forecast-dev"])})
        }
        Params::DynamoTable => {
            json!({"tableName": pick(rng, &["sessions", "orders", "feature-flags"])})
        }
    }
}

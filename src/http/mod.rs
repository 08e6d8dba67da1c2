//! HTTP (axum): health for the orchestrator, and the meetings and their
//! agendas for people and systems (R3.3).
//!
//! `/livez`, `/readyz` and `/metrics` are open. Every other route holds or
//! leads to children's data, so it needs `Authorization: Bearer <token>` with
//! the configured token, compared in constant time; with no token configured
//! those routes answer 503 rather than open up. Errors never carry internals:
//! they are logged and answered with a generic message.

pub mod page;
pub mod render;
pub mod timeline;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, HeaderMap, HeaderValue, REFERRER_POLICY, VARY, WWW_AUTHENTICATE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::agendas::Agendas;
use crate::clock::Clock;
use crate::domain::vpg::VpgKind;
use crate::metrics::Metrics;
use crate::vpg_agendas::{VpgAgenda, VpgAgendas};
use render::Presentation;

/// How long readiness waits for the database to answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    agendas: Agendas,
    vpg: Option<VpgAgendas>,
    pool: PgPool,
    broker_connected: watch::Receiver<bool>,
    clock: Arc<dyn Clock>,
    token: Option<Arc<[u8]>>,
    presentation: Presentation,
    metrics: Arc<Metrics>,
}

impl HttpState {
    /// `token`: the configured bearer token; `None` keeps every route but
    /// health closed (503). The VPG views answer 404 until `with_vpg`.
    pub fn new(
        agendas: Agendas,
        pool: PgPool,
        broker_connected: watch::Receiver<bool>,
        clock: Arc<dyn Clock>,
        token: Option<&str>,
        presentation: Presentation,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            agendas,
            vpg: None,
            pool,
            broker_connected,
            clock,
            token: token
                .filter(|t| !t.is_empty())
                .map(|t| Arc::from(t.as_bytes())),
            presentation,
            metrics,
        }
    }

    /// Serves the weekly and monthly VPG agendas too (issue 11).
    pub fn with_vpg(mut self, vpg: VpgAgendas) -> Self {
        self.vpg = Some(vpg);
        self
    }
}

/// The routes: health and metrics open, the rest behind the bearer token.
pub fn router(state: HttpState) -> Router {
    let guarded = Router::new()
        .route("/meetings", get(meetings))
        .route("/meetings/{date}/agenda", get(agenda))
        .route("/vpg", get(vpg_list))
        .route("/vpg/weekly", get(vpg_weekly_next))
        .route("/vpg/weekly/{date}", get(vpg_weekly))
        .route("/vpg/monthly", get(vpg_monthly_next))
        .route("/vpg/monthly/{date}", get(vpg_monthly))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        // Open like health: it holds counts and bounded labels, never
        // personal data, and a scraper given the token would also hold the
        // key to every child's agenda.
        .route("/metrics", get(metrics))
        .merge(guarded)
        .fallback(no_such_route)
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` turns true, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

// ---- errors ----

/// What a request can fail with. The text of `BadRequest` and `NotFound`
/// names the part of the request and the rule, never a stored value.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    /// Logged in full; answered with a generic message.
    Internal(anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(message) => error(StatusCode::BAD_REQUEST, &message),
            Self::NotFound(message) => error(StatusCode::NOT_FOUND, &message),
            Self::Internal(err) => {
                tracing::error!(error = %format_args!("{err:#}"), "HTTP request failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn no_such_route() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

// ---- authentication ----

/// Equal-length inputs are compared over every byte (XOR folded), so the
/// time taken does not depend on where they first differ; inputs of
/// different lengths are unequal without looking at their content.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    difference == 0
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is
/// case-insensitive, RFC 7235).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    Some(rest.trim_ascii())
}

async fn require_token(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let mut response = match (&state.token, bearer(request.headers())) {
        (None, _) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the HTTP token is not configured (set VEMT__HTTP__TOKEN): only /livez, /readyz and /metrics are served",
        ),
        (Some(expected), Some(presented)) if constant_time_eq(presented, expected) => {
            next.run(request).await
        }
        (Some(_), presented) => {
            let (challenge, message) = if presented.is_some() {
                (
                    r#"Bearer realm="vemt", error="invalid_token""#,
                    "the bearer token is not valid",
                )
            } else {
                (r#"Bearer realm="vemt""#, "a bearer token is required")
            };
            tracing::info!(
                path = %request.uri().path(),
                token_presented = presented.is_some(),
                "HTTP request refused: no valid bearer token"
            );
            let mut refused = error(StatusCode::UNAUTHORIZED, message);
            refused
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            refused
        }
    };
    // These routes hold children's data: nothing is kept by browsers or
    // proxies.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---- health ----

async fn livez() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Ready when the database answers and a broker session is up.
async fn readyz(State(state): State<HttpState>) -> Response {
    let database = matches!(
        tokio::time::timeout(
            READINESS_TIMEOUT,
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool),
        )
        .await,
        Ok(Ok(1))
    );
    let broker = *state.broker_connected.borrow();
    let word = |up: bool| if up { "up" } else { "down" };
    let body = json!({ "database": word(database), "broker": word(broker) });
    if database && broker {
        axum::Json(body).into_response()
    } else {
        let down: Vec<&str> = [("database", database), ("broker", broker)]
            .into_iter()
            .filter(|(_, up)| !up)
            .map(|(name, _)| name)
            .collect();
        let mut body = body;
        body["error"] = json!(format!("not ready: {} down", down.join(" and ")));
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// Prometheus metrics. The database and broker gauges are read now, so a
/// scrape sees the state of this moment; the counters are this instance's.
async fn metrics(State(state): State<HttpState>) -> Response {
    let stored = async {
        let mut conn = state.pool.acquire().await?;
        let mut stored = crate::store::metrics::read(&mut conn).await?;
        let calendar = state.agendas.calendar(&mut conn).await?;
        stored.collation_overdue_seconds = crate::store::metrics::collation_overdue_seconds(
            &mut conn,
            &calendar,
            state.clock.now(),
        )
        .await?;
        let flags = crate::store::metrics::data_quality_flags(&mut conn).await?;
        Ok::<_, sqlx::Error>((stored, flags))
    };
    let stored = match tokio::time::timeout(READINESS_TIMEOUT, stored).await {
        Ok(Ok(stored)) => Some(stored),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "metrics: the database did not answer");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not answer in time");
            None
        }
    };
    if let Some((_, flags)) = &stored {
        state.metrics.set_data_quality_flags(flags);
    }
    let stored = stored.map(|(stored, _)| stored);
    state.metrics.set_stored(stored.as_ref());
    state
        .metrics
        .set_broker_connected(*state.broker_connected.borrow());
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.metrics.encode(),
    )
        .into_response()
}

// ---- meetings and agendas ----

async fn meetings(State(state): State<HttpState>) -> Result<Response, ApiError> {
    let meetings = state
        .agendas
        .meetings(state.clock.now())
        .await
        .map_err(ApiError::Internal)?;
    Ok(axum::Json(meetings).into_response())
}

/// How an agenda is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgendaFormat {
    Json,
    Csv,
    Html,
}

impl AgendaFormat {
    fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "html" => Some(Self::Html),
            _ => None,
        }
    }

    /// The format an `Accept` header prefers among the three, by quality
    /// then order; JSON when it names none of them.
    fn from_accept(accept: &str) -> Self {
        let mut best: Option<(Self, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "text/html" | "application/xhtml+xml" => Self::Html,
                "text/csv" => Self::Csv,
                "application/json" => Self::Json,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((format, quality));
            }
        }
        best.map_or(Self::Json, |(format, _)| format)
    }
}

#[derive(Debug, serde::Deserialize)]
struct AgendaQuery {
    format: Option<String>,
}

/// A path date: exactly `YYYY-MM-DD`, and a real date.
fn parse_date(raw: &str) -> Result<NaiveDate, ApiError> {
    let rule = || ApiError::BadRequest("path segment `date` must be a date YYYY-MM-DD".into());
    if raw.len() != 10 {
        return Err(rule());
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| rule())?;
    if date.format("%Y-%m-%d").to_string() != raw {
        return Err(rule());
    }
    Ok(date)
}

/// The format a request asks for: `?format=` first, else `Accept`.
fn requested_format(
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<AgendaFormat, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("the query string is not well formed".into()))?;
    Ok(match query.format.as_deref() {
        Some(raw) => AgendaFormat::parse(raw).ok_or_else(|| {
            ApiError::BadRequest("query parameter `format` must be json, csv or html".into())
        })?,
        None => headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map_or(AgendaFormat::Json, AgendaFormat::from_accept),
    })
}

fn path_date(date: Result<Path<String>, PathRejection>) -> Result<NaiveDate, ApiError> {
    let Path(raw_date) = date.map_err(|_| {
        ApiError::BadRequest("path segment `date` must be a date YYYY-MM-DD".into())
    })?;
    parse_date(&raw_date)
}

/// An agenda in the format asked for, with the headers every agenda view
/// sends: the page's CSP (nothing loaded, no script), no referrer, no
/// sniffing, `Vary: accept`. `csv` and `page` are only run when chosen.
fn agenda_response(
    format: AgendaFormat,
    json: impl FnOnce() -> Response,
    csv: impl FnOnce() -> String,
    page: impl FnOnce() -> String,
    filename: &str,
) -> Response {
    let mut response = match format {
        AgendaFormat::Json => json(),
        AgendaFormat::Csv => {
            let disposition = format!("attachment; filename=\"{filename}.csv\"");
            let mut response = (
                [(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"))],
                csv(),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response.headers_mut().insert(CONTENT_DISPOSITION, value);
            }
            response
        }
        AgendaFormat::Html => (
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                // The page needs nothing from anywhere: no scripts, no
                // fetched assets, only its own inline style (the timeline
                // is inline SVG).
                (
                    CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                    ),
                ),
                (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            ],
            page(),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("accept"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn agenda(
    State(state): State<HttpState>,
    date: Result<Path<String>, PathRejection>,
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let date = path_date(date)?;
    let format = requested_format(query, &headers)?;
    let now = state.clock.now();
    let agenda = state
        .agendas
        .agenda(date, now)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::NotFound("no meeting on that date".into()))?;
    Ok(agenda_response(
        format,
        || axum::Json(&agenda).into_response(),
        || render::csv(&agenda),
        || page::html(&agenda, &state.presentation, now),
        &format!("agenda-{date}"),
    ))
}

// ---- the VPG agendas (issue 11) ----

fn vpg_of(state: &HttpState) -> Result<&VpgAgendas, ApiError> {
    state
        .vpg
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no such route".into()))
}

async fn vpg_list(State(state): State<HttpState>) -> Result<Response, ApiError> {
    let list = vpg_of(&state)?
        .list(state.clock.now())
        .await
        .map_err(ApiError::Internal)?;
    Ok(axum::Json(list).into_response())
}

async fn vpg_view(
    state: &HttpState,
    kind: VpgKind,
    date: Option<NaiveDate>,
    format: AgendaFormat,
) -> Result<Response, ApiError> {
    let vpg = vpg_of(state)?;
    let now = state.clock.now();
    let date = date.unwrap_or_else(|| vpg.next_sitting(kind, now).date);
    let view = vpg
        .agenda(kind, date, now)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| {
            ApiError::NotFound(format!("no {} VPG agenda for that date", kind.as_str()))
        })?;
    let preview = view.published_at.is_none();
    let p = &state.presentation;
    Ok(match &view.agenda {
        VpgAgenda::Weekly(agenda) => agenda_response(
            format,
            || axum::Json(view.json()).into_response(),
            || render::vpg_weekly_csv(agenda, preview),
            || page::weekly_html(agenda, view.published_at, p, now),
            &format!("vpg-weekly-{date}"),
        ),
        VpgAgenda::Monthly(agenda) => agenda_response(
            format,
            || axum::Json(view.json()).into_response(),
            || render::vpg_monthly_csv(agenda, preview),
            || page::monthly_html(agenda, view.published_at, p, now),
            &format!("vpg-monthly-{date}"),
        ),
    })
}

async fn vpg_weekly_next(
    State(state): State<HttpState>,
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = requested_format(query, &headers)?;
    vpg_view(&state, VpgKind::Weekly, None, format).await
}

async fn vpg_weekly(
    State(state): State<HttpState>,
    date: Result<Path<String>, PathRejection>,
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let date = path_date(date)?;
    let format = requested_format(query, &headers)?;
    vpg_view(&state, VpgKind::Weekly, Some(date), format).await
}

async fn vpg_monthly_next(
    State(state): State<HttpState>,
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = requested_format(query, &headers)?;
    vpg_view(&state, VpgKind::Monthly, None, format).await
}

async fn vpg_monthly(
    State(state): State<HttpState>,
    date: Result<Path<String>, PathRejection>,
    query: Result<Query<AgendaQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let date = path_date(date)?;
    let format = requested_format(query, &headers)?;
    vpg_view(&state, VpgKind::Monthly, Some(date), format).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_match_and_others_do_not() {
        assert!(constant_time_eq(b"s3cret-token-abc", b"s3cret-token-abc"));
        assert!(!constant_time_eq(b"s3cret-token-abc", b"s3cret-token-abd"));
        assert!(!constant_time_eq(b"s3cret-token-abc", b"s3cret-token-ab"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_others_are_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer(&headers).map(<[u8]>::to_vec)
        };
        assert_eq!(with("Bearer abc"), Some(b"abc".to_vec()));
        assert_eq!(with("bearer  abc "), Some(b"abc".to_vec()));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer"), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn accept_headers_choose_a_format() {
        use AgendaFormat::*;
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(AgendaFormat::from_accept(browser), Html);
        assert_eq!(AgendaFormat::from_accept("text/csv"), Csv);
        assert_eq!(AgendaFormat::from_accept("application/json"), Json);
        assert_eq!(AgendaFormat::from_accept("*/*"), Json);
        assert_eq!(AgendaFormat::from_accept(""), Json);
        assert_eq!(
            AgendaFormat::from_accept("text/html;q=0.5, text/csv;q=0.9"),
            Csv
        );
        assert_eq!(AgendaFormat::from_accept("text/csv;q=0, text/html"), Html);
        assert_eq!(AgendaFormat::parse("HTML"), Some(Html));
        assert_eq!(AgendaFormat::parse("xml"), None);
    }

    #[test]
    fn path_dates_must_be_exactly_yyyy_mm_dd() {
        assert_eq!(
            parse_date("2026-11-25").ok(),
            NaiveDate::from_ymd_opt(2026, 11, 25)
        );
        for bad in [
            "2026-11-5",
            "2026-02-30",
            "25-11-2026",
            "2026-11-25x",
            "today",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}

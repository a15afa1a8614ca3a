//! The one table of routes. The router is built from it ([`super::router`]) and so is the
//! OpenAPI document ([`super::openapi`]), so the two cannot drift: a route exists exactly when it
//! is documented, with the method, path, body and size limit it is served with.

use axum::routing::{MethodFilter, MethodRouter};

use super::state::AppState;

/// The body limit of routes that do not set one: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// GET.
    Get,
    /// POST.
    Post,
}

impl Verb {
    /// The axum method filter.
    pub fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }

    /// The lowercase name OpenAPI uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }
}

/// The type of a path or query parameter, as exactly as the server checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Text.
    String,
    /// Text that must not be empty (an empty one is a 400).
    NonEmptyString,
    /// A non-negative integer.
    Integer,
    /// A page size: an integer from 1 to [`MAX_LIMIT`](super::pagination::MAX_LIMIT).
    PageLimit,
    /// A time: RFC 3339 (`2026-03-01T08:00:00Z`, `...+08:00`) or a date (`2026-03-01`).
    TimeOrDate,
}

/// A path or query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// What it means.
    pub description: &'static str,
}

impl Param {
    /// A text parameter.
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            ty: ParamType::String,
            description,
        }
    }

    /// A parameter of a given type.
    pub const fn typed(name: &'static str, ty: ParamType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            description,
        }
    }

    /// An integer parameter.
    pub const fn integer(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            ty: ParamType::Integer,
            description,
        }
    }
}

/// `?limit=&after=` of list routes.
pub const PAGE_PARAMS: &[Param] = &[
    Param::typed(
        "limit",
        ParamType::PageLimit,
        "Page size, 1 to 500 (default 50).",
    ),
    Param::typed(
        "after",
        ParamType::NonEmptyString,
        "Cursor: the `next` of the previous page.",
    ),
];

/// What a route accepts as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// No body.
    None,
    /// JSON of the named schema.
    Json(&'static str),
    /// Raw WebAssembly bytes.
    Wasm,
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// JSON of the named schema.
    Json(&'static str),
    /// Raw bytes (product files): the content types the route answers with, by file.
    Files(&'static [&'static str]),
}

/// Builds a route's handler for the route's method.
pub type HandlerFn = fn(MethodFilter) -> MethodRouter<AppState>;

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Method.
    pub verb: Verb,
    /// Path, with `{param}` segments.
    pub path: &'static str,
    /// OpenAPI operation id (unique).
    pub operation: &'static str,
    /// OpenAPI tag (the area).
    pub tag: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Whether a bearer token is required.
    pub auth: bool,
    /// The `{param}`s of the path, in order.
    pub path_params: &'static [Param],
    /// Query parameters.
    pub query: &'static [Param],
    /// The request body.
    pub body: RequestBody,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Status on success.
    pub status: u16,
    /// Body on success.
    pub response: ResponseBody,
    /// Error statuses particular to this route (403, 404, 409, 422). Those every route of its
    /// kind can answer (400, 401, 413, 414, 415, 422 for JSON bodies, 500) are added by
    /// [`Route::error_statuses`].
    pub errors: &'static [u16],
    /// The handler.
    pub handler: HandlerFn,
}

impl Route {
    fn new(verb: Verb, path: &'static str, operation: &'static str, handler: HandlerFn) -> Self {
        Self {
            verb,
            path,
            operation,
            tag: "",
            summary: "",
            auth: true,
            path_params: &[],
            query: &[],
            body: RequestBody::None,
            body_limit: DEFAULT_BODY_LIMIT,
            status: 200,
            response: ResponseBody::Json(""),
            errors: &[],
            handler,
        }
    }

    /// A GET route (authenticated unless [`Route::public`]).
    pub fn get(path: &'static str, operation: &'static str, handler: HandlerFn) -> Self {
        Self::new(Verb::Get, path, operation, handler)
    }

    /// A POST route (authenticated unless [`Route::public`]).
    pub fn post(path: &'static str, operation: &'static str, handler: HandlerFn) -> Self {
        Self::new(Verb::Post, path, operation, handler)
    }

    /// Tag and summary.
    pub fn doc(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.tag = tag;
        self.summary = summary;
        self
    }

    /// No token needed.
    pub fn public(mut self) -> Self {
        self.auth = false;
        self
    }

    /// The path's parameters.
    pub fn path_params(mut self, params: &'static [Param]) -> Self {
        self.path_params = params;
        self
    }

    /// Query parameters.
    pub fn query(mut self, params: &'static [Param]) -> Self {
        self.query = params;
        self
    }

    /// A JSON body of the named schema.
    pub fn json_body(mut self, schema: &'static str) -> Self {
        self.body = RequestBody::Json(schema);
        self
    }

    /// A raw WebAssembly body.
    pub fn wasm_body(mut self) -> Self {
        self.body = RequestBody::Wasm;
        self
    }

    /// A body limit other than the default 1 MiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Success status and JSON schema.
    pub fn returns(mut self, status: u16, schema: &'static str) -> Self {
        self.status = status;
        self.response = ResponseBody::Json(schema);
        self
    }

    /// Success with raw bytes of one of `content_types`.
    pub fn returns_files(mut self, content_types: &'static [&'static str]) -> Self {
        self.status = 200;
        self.response = ResponseBody::Files(content_types);
        self
    }

    /// Error statuses particular to this route.
    pub fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }

    /// Every error status the route can answer, ascending.
    pub fn error_statuses(&self) -> Vec<u16> {
        let mut statuses: Vec<u16> = self.errors.to_vec();
        if self.auth {
            statuses.push(401);
        }
        if !self.path_params.is_empty() || !self.query.is_empty() {
            statuses.push(400);
        }
        match self.body {
            RequestBody::None => {}
            RequestBody::Json(_) => statuses.extend([400, 413, 415, 422]),
            RequestBody::Wasm => statuses.extend([413, 415]),
        }
        // Any request line can be too long (see `router::MAX_URI_BYTES`).
        statuses.push(414);
        statuses.push(500);
        statuses.sort_unstable();
        statuses.dedup();
        statuses
    }
}

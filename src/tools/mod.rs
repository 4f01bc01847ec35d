//! The generic tool runtime: the generated table, the requests its builders produce, the
//! behaviour the manifest declares beyond the API, and the one dispatcher that executes every
//! tool. Nothing here knows MCP or how IONOS is authenticated.

pub mod behaviour;
pub mod compact;
pub mod dispatch;
pub mod fit;
pub mod power;
pub mod request;
pub mod schema;
pub mod shape;
pub mod table;

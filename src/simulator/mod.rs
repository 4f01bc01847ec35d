pub const DEMO_TOKEN: &str = "demo-token";
pub struct Simulator;
impl Simulator {
    pub async fn start() -> std::io::Result<Simulator> {
        Ok(Simulator)
    }
    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], 1).into()
    }
}

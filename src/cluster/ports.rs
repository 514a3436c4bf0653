//! The ports of an Ant Media cluster, named once: security groups, target groups, listeners,
//! outputs and checks all read them from here.

/// The AMS HTTP port: target groups, health checks, and the edge's plain-HTTP listener.
pub const AMS_HTTP_PORT: i32 = 5080;
/// The cluster-internal port between origins and edges.
pub const AMS_CLUSTER_PORT: i32 = 5000;
pub const MONGODB_PORT: i32 = 27017;
/// WebRTC media (AMS 2.4.3 and later).
pub const WEBRTC_UDP: (i32, i32) = (50000, 60000);
/// RTMP publishing (OBS, hardware encoders), TCP.
pub const RTMP_PORT: i32 = 1935;
/// RTMPS publishing (RTMP in TLS, terminated by the ingest load balancer), TCP.
pub const RTMPS_PORT: i32 = 443;
/// SRT publishing, UDP.
pub const SRT_PORT: i32 = 4200;
/// TURN (coturn's listening port), UDP and TCP.
pub const TURN_PORT: i32 = 3478;
/// The ports coturn relays media on (its min-port and max-port): IANA's dynamic range.
pub const TURN_RELAY_UDP: (i32, i32) = (49152, 65535);

/// Which node group a load balancer port serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serves {
    /// Publishers: the origin group.
    Origin,
    /// Players: the edge group.
    Edge,
}

/// One listener of the application load balancer.
pub struct AlbListener {
    pub port: i32,
    /// HTTPS with the stack's certificate, or plain HTTP.
    pub tls: bool,
    pub serves: Serves,
    pub purpose: &'static str,
    /// Plain HTTP: the HTTPS port it redirects to (itself for an HTTPS listener).
    pub redirect_to: i32,
}

/// 80/443 publish to the origins, 5080/5443 play from the edges.
pub const ALB_LISTENERS: [AlbListener; 4] = [
    AlbListener {
        port: 80,
        tls: false,
        serves: Serves::Origin,
        purpose: "publish (HTTP)",
        redirect_to: 443,
    },
    AlbListener {
        port: 443,
        tls: true,
        serves: Serves::Origin,
        purpose: "publish (HTTPS)",
        redirect_to: 443,
    },
    AlbListener {
        port: 5080,
        tls: false,
        serves: Serves::Edge,
        purpose: "play (HTTP)",
        redirect_to: 5443,
    },
    AlbListener {
        port: 5443,
        tls: true,
        serves: Serves::Edge,
        purpose: "play (HTTPS)",
        redirect_to: 5443,
    },
];

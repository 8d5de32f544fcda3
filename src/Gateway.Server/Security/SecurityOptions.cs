namespace Gateway.Server.Security;

/// <summary>Authentication settings, bound from <c>Gateway:Auth</c>.</summary>
public sealed class AuthOptions
{
    /// <summary>
    /// True (the default): every endpoint but /healthz, /readyz and the static shells (dashboard, API documents) needs an
    /// API key. False is for local development only; the server logs a warning at start.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The administrator's key on first start with an empty user table (environment: <c>Gateway__Auth__BootstrapKey</c>).
    /// A key in Gateway's format (<c>gw_…</c>, as created by the API) or any string of at least 32 characters. When
    /// unset, a key is generated, printed once to the console and written to <c>bootstrap-admin.key</c> (mode 600)
    /// in the data folder.
    /// </summary>
    public string? BootstrapKey { get; set; }

    /// <summary>The bootstrap administrator's user name. The default is <c>admin</c>.</summary>
    public string BootstrapUser { get; set; } = "admin";

    /// <summary>How long a WebSocket/EventSource ticket stays valid, in seconds (single use). The default is 30.</summary>
    public int TicketSeconds { get; set; } = 30;

    /// <summary>
    /// Origins allowed to open WebSockets and event streams from a browser (cross-site WebSocket hijacking): requests
    /// with an <c>Origin</c> header that is neither the server's own nor in this list are refused with 403. Empty by
    /// default (same origin only). <c>*</c> allows any.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Origins allowed by CORS for the HTTP API. Empty (the default): CORS is off.</summary>
    public string[] CorsOrigins { get; set; } = [];
}

namespace Gateway.Server.Configuration;

/// <summary>Where exchanges, queues and messages live.</summary>
public enum GatewayBackend
{
    /// <summary>The embedded engine with its SQLite journal, in this process: nothing else to install.</summary>
    Embedded,
    /// <summary>A RabbitMQ cluster (Gateway:RabbitMq): gateway nodes become a stateless edge over it.</summary>
    RabbitMq,
}

/// <summary>The backend choice, bound from the key <c>Gateway:Backend</c>.</summary>
public sealed class BackendOptions
{
    /// <summary>The setting's key.</summary>
    public const string Key = "Gateway:Backend";

    /// <summary>
    /// <c>Embedded</c> (the default) or <c>RabbitMq</c>. The endpoints, sessions, webhooks, dashboard and metrics are
    /// the same on both; what a backend lacks is refused with 501 naming it (README, "Backends").
    /// </summary>
    public GatewayBackend Backend { get; set; } = GatewayBackend.Embedded;
}

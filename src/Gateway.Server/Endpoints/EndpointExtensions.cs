using Gateway.Broker;
using Gateway.Server.Validation;

namespace Gateway.Server.Endpoints;

internal static class EndpointExtensions
{
    /// <summary>Validates the body of type <typeparamref name="T"/> and documents the 400 answer.</summary>
    public static RouteHandlerBuilder Validate<T>(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter<ValidationFilter<T>>().ProducesValidationProblem();

    /// <summary>The vhost, or a NotFound refusal.</summary>
    public static async ValueTask<IBrokerVhost> RequireVhostAsync(this IBroker broker, string name, CancellationToken cancellationToken = default) =>
        await broker.GetVhostAsync(name, cancellationToken) ?? throw new BrokerException(BrokerError.NotFound, $"No vhost '{name}'.");

    /// <summary>The queue, or a NotFound refusal.</summary>
    public static async ValueTask<IBrokerQueue> RequireQueueAsync(this IBrokerVhost vhost, string name, CancellationToken cancellationToken = default) =>
        await vhost.GetQueueAsync(name, cancellationToken) ?? throw new BrokerException(BrokerError.NotFound, $"No queue '{name}' in vhost '{vhost.Name}'.");
}

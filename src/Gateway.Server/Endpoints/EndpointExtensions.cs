using Gateway.Broker;
using Gateway.Broker.Topology;
using Gateway.Server.Validation;

namespace Gateway.Server.Endpoints;

internal static class EndpointExtensions
{
    /// <summary>Validates the body of type <typeparamref name="T"/> and documents the 400 answer.</summary>
    public static RouteHandlerBuilder Validate<T>(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter<ValidationFilter<T>>().ProducesValidationProblem();

    /// <summary>The vhost, or a NotFound refusal.</summary>
    public static VirtualHost RequireVhost(this MessageBroker broker, string name) =>
        broker.GetVhost(name) ?? throw new BrokerException(BrokerError.NotFound, $"No vhost '{name}'.");
}

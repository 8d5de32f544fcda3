using Gateway.Broker.Topology;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Http;

/// <summary>The answers to a publish that was not confirmed, shared by every publish path (HTTP and WebSocket).</summary>
internal static class PublishRefusals
{
    public static string RejectedDetail(PublishOutcome outcome) =>
        $"Not confirmed: {outcome.Rejected} full queue(s) refused the message (x-overflow reject-publish" +
        (outcome.Queues > 0 ? $"); {outcome.Queues} other queue(s) took it, as with AMQP's basic.nack." : "); nothing was stored.");

    /// <summary>409 <c>urn:gateway:problem:rejected</c>: a full queue refused the message.</summary>
    public static ProblemHttpResult Rejected(PublishOutcome outcome) => Problems.Problem(StatusCodes.Status409Conflict, "rejected", RejectedDetail(outcome));
}

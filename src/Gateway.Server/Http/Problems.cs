using Gateway.Broker;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Http;

/// <summary>RFC 9457 problem documents for every refusal the API answers. Each kind has a stable <c>type</c> URI.</summary>
internal static class Problems
{
    public const string TypePrefix = "urn:gateway:problem:";

    public static int StatusOf(BrokerError error) => error switch
    {
        BrokerError.NotFound => StatusCodes.Status404NotFound,
        BrokerError.AccessRefused => StatusCodes.Status403Forbidden,
        BrokerError.PreconditionFailed => StatusCodes.Status409Conflict,
        BrokerError.LeaseExpired => StatusCodes.Status410Gone,
        BrokerError.ResourceLocked => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status400BadRequest,
    };

    private static string Slug(BrokerError error) => error switch
    {
        BrokerError.NotFound => "not-found",
        BrokerError.AccessRefused => "access-refused",
        BrokerError.PreconditionFailed => "precondition-failed",
        BrokerError.LeaseExpired => "lease-expired",
        BrokerError.ResourceLocked => "resource-locked",
        _ => "invalid-argument",
    };

    public static ProblemHttpResult From(BrokerException e) => Problem(StatusOf(e.Error), Slug(e.Error), e.Message);

    public static ProblemHttpResult NotFound(string detail) => Problem(StatusCodes.Status404NotFound, "not-found", detail);
    public static ProblemHttpResult BadRequest(string detail) => Problem(StatusCodes.Status400BadRequest, "bad-request", detail);
    public static ProblemHttpResult Forbidden(string detail) => Problem(StatusCodes.Status403Forbidden, "access-refused", detail);
    public static ProblemHttpResult TooLarge(string detail) => Problem(StatusCodes.Status413PayloadTooLarge, "too-large", detail);
    public static ProblemHttpResult Unroutable(string detail) => Problem(StatusCodes.Status422UnprocessableEntity, "unroutable", detail);

    /// <summary>501: the configured backend (Gateway:Backend) does not have the feature; the detail names both.</summary>
    public static ProblemHttpResult NotSupported(FeatureNotSupportedException e) =>
        Problem(StatusCodes.Status501NotImplemented, "not-supported-by-backend", e.Message);

    public static ProblemHttpResult Problem(int status, string slug, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, type: TypePrefix + slug);
}

using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Validation;

/// <summary>Validates the endpoint's <typeparamref name="T"/> argument with its FluentValidation validator; 400 on failure.</summary>
internal sealed class ValidationFilter<T>(IValidator<T> validator) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var argument in context.Arguments)
        {
            if (argument is not T value) continue;
            if (RequestValidation.Check(validator, value) is { } problem) return ValueTask.FromResult<object?>(problem);
        }
        return next(context);
    }
}

internal static class RequestValidation
{
    /// <summary>The 400 answer for an invalid <paramref name="value"/>, or null when it is valid.</summary>
    public static ValidationProblem? Check<T>(IValidator<T> validator, T value)
    {
        // Every validator is synchronous: the async path only adds state machines.
        var result = validator.Validate(value);
        return result.IsValid
            ? null
            : TypedResults.ValidationProblem(result.ToDictionary(), detail: result.Errors[0].ErrorMessage, type: Problems.TypePrefix + "validation");
    }
}

/// <summary>Checks the names in the route (<c>vhost</c>, <c>exchange</c>, <c>queue</c>, <c>user</c>) against the naming rule; 400 on failure.</summary>
internal sealed class RouteNamesFilter : IEndpointFilter
{
    private static readonly string[] Keys = ["vhost", "exchange", "queue", "user"];

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var values = context.HttpContext.Request.RouteValues;
        foreach (var key in Keys)
        {
            if (values.TryGetValue(key, out var raw) && raw is string name && Invalid(key, name) is { } problem)
                return ValueTask.FromResult<object?>(problem);
        }
        return next(context);
    }

    /// <summary>The 400 answer when a name in the URL breaks the naming rule, else null.</summary>
    public static ProblemHttpResult? Invalid(string kind, string name)
    {
        // Routing leaves %2F encoded inside a segment; it stands for '/', which names cannot contain.
        var error = name.Contains("%2F", StringComparison.OrdinalIgnoreCase) ? "must not contain '/'" : Names.Validate(name);
        return error is null ? null : Problems.BadRequest($"The {kind} name in the URL {error}.");
    }
}

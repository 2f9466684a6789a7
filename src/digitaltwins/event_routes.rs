//! Event routes: where twin change notifications and telemetry are sent.

use super::client::{DigitalTwinsClient, api_version, page_of};
use super::twin::validate_id;
use crate::paging::{Continuation, Pager};
use crate::request::setters;
use crate::{Error, RequestOptions};

/// An event route: events matching `filter` go to the endpoint named `endpoint_name`; `id` is
/// set by the service in responses. The generated wire type (`EventRoute` of the spec).
pub use crate::raw::digitaltwins::types::EventRoute;

impl EventRoute {
    /// A route of events matching `filter` to `endpoint_name`.
    pub fn new(endpoint_name: impl Into<String>, filter: impl Into<String>) -> Self {
        EventRoute {
            id: None,
            endpoint_name: endpoint_name.into(),
            filter: filter.into(),
        }
    }
}

impl DigitalTwinsClient {
    /// Adds or replaces an event route (`PUT /eventroutes/{id}`).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, EventRoute};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// dt.create_event_route("all-updates", EventRoute::new("my-eventhub", "type = 'Microsoft.DigitalTwins.Twin.Update'"))
    ///     .send().await?;
    /// # Ok(()) }
    /// ```
    pub fn create_event_route(
        &self,
        route_id: impl Into<String>,
        route: EventRoute,
    ) -> CreateEventRoute {
        CreateEventRoute {
            client: self.clone(),
            route_id: route_id.into(),
            route,
            options: RequestOptions::default(),
        }
    }

    /// Gets an event route.
    pub fn get_event_route(&self, route_id: impl Into<String>) -> GetEventRoute {
        GetEventRoute {
            client: self.clone(),
            route_id: route_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Deletes an event route.
    pub fn delete_event_route(&self, route_id: impl Into<String>) -> DeleteEventRoute {
        DeleteEventRoute {
            client: self.clone(),
            route_id: route_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Lists event routes across all pages.
    pub fn list_event_routes(&self) -> ListEventRoutes {
        ListEventRoutes {
            client: self.clone(),
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::create_event_route`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateEventRoute {
    client: DigitalTwinsClient,
    route_id: String,
    route: EventRoute,
    options: RequestOptions,
}

impl CreateEventRoute {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_id("route_id", &self.route_id)?;
        validate_id("route.endpoint_name", &self.route.endpoint_name)?;
        if self.route.filter.trim().is_empty() {
            return Err(Error::invalid_input(
                "route.filter",
                "must not be empty (use \"true\" to route every event)",
            ));
        }
        if let Some(id) = &self.route.id
            && id != &self.route_id
        {
            return Err(Error::invalid_input(
                "route.id",
                format!(
                    "is {id:?} but the route id is {:?}; leave it out or make them equal",
                    self.route_id
                ),
            ));
        }
        // The id travels in the path; the body leaves it out, as before.
        let body = EventRoute {
            id: None,
            ..self.route
        };
        let id = self.route_id.as_str();
        self.client
            .call(&self.options, |raw| {
                raw.event_routes_add(id, api_version(raw), None, None, &body)
            })
            .await?;
        Ok(())
    }
}
crate::response::operation!(CreateEventRoute => ());

/// Builder of [`DigitalTwinsClient::get_event_route`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetEventRoute {
    client: DigitalTwinsClient,
    route_id: String,
    options: RequestOptions,
}

impl GetEventRoute {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<EventRoute, Error> {
        validate_id("route_id", &self.route_id)?;
        let id = self.route_id.as_str();
        self.client
            .fetch(&self.options, |raw| {
                raw.event_routes_get_by_id(id, api_version(raw), None, None)
            })
            .await
    }
}
crate::response::operation!(GetEventRoute => EventRoute);

/// Builder of [`DigitalTwinsClient::delete_event_route`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DeleteEventRoute {
    client: DigitalTwinsClient,
    route_id: String,
    options: RequestOptions,
}

impl DeleteEventRoute {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_id("route_id", &self.route_id)?;
        let id = self.route_id.as_str();
        self.client
            .call(&self.options, |raw| {
                raw.event_routes_delete(id, api_version(raw), None, None)
            })
            .await?;
        Ok(())
    }
}
crate::response::operation!(DeleteEventRoute => ());

/// Builder of [`DigitalTwinsClient::list_event_routes`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListEventRoutes {
    client: DigitalTwinsClient,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

impl ListEventRoutes {
    setters! {
        /// Maximum routes per page (`max-items-per-page`).
        page_size;
        continuation;
        /// Per-call options, applied to every page.
        options;
    }

    /// All event routes, page after page.
    pub fn into_stream(self) -> Pager<EventRoute> {
        self.client.list_pager(
            self.options,
            self.page_size,
            self.continuation,
            |client, options, page_size| async move {
                client
                    .call(&options, |raw| {
                        raw.event_routes_list(api_version(raw), page_size, None, None)
                    })
                    .await
                    .map(page_of)
            },
            Ok,
        )
    }
}

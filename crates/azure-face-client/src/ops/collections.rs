//! Person groups, large person groups, face lists and large face lists: the groups themselves, their persons,
//! their persisted faces, and paging.

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::client::{Body, Call, FaceClient, Retry};
use crate::error::FaceError;
use crate::lro::TrainingPoller;
use crate::models::{
    AddFaceResult, CreatePersonResult, FaceList, FaceListItem, LargeFaceList, LargePersonGroup, PersistedFace, Person,
    PersonGroup, TrainingResult,
};
use crate::requests::{
    AddFaceOptions, CreateCollectionRequest, CreatePersonRequest, ListCollectionsOptions, ListOptions, UpdateRequest,
    check_collection_id,
};

/// The four kinds of collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    PersonGroup,
    LargePersonGroup,
    FaceList,
    LargeFaceList,
}

impl Kind {
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Kind::PersonGroup => "persongroups",
            Kind::LargePersonGroup => "largepersongroups",
            Kind::FaceList => "facelists",
            Kind::LargeFaceList => "largefacelists",
        }
    }

    pub(crate) fn id_argument(self) -> &'static str {
        match self {
            Kind::PersonGroup => "personGroupId",
            Kind::LargePersonGroup => "largePersonGroupId",
            Kind::FaceList => "faceListId",
            Kind::LargeFaceList => "largeFaceListId",
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::PersonGroup => "person group",
            Kind::LargePersonGroup => "large person group",
            Kind::FaceList => "face list",
            Kind::LargeFaceList => "large face list",
        }
    }
}

/// Pages through a list operation, `page_size` entries per request, following `start` = last id.
pub(crate) fn paginate<T, F, Fut>(
    page_size: u32,
    fetch: F,
    key: fn(&T) -> String,
) -> BoxStream<'static, Result<T, FaceError>>
where
    T: Send + 'static,
    F: Fn(ListOptions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<T>, FaceError>> + Send + 'static,
{
    let page_size = page_size.clamp(1, 1000);
    let pages = futures::stream::try_unfold((fetch, Some(None::<String>)), move |(fetch, next)| async move {
        let Some(start) = next else { return Ok(None) };
        let mut options = ListOptions::new().top(page_size);
        if let Some(s) = start {
            options = options.start(s);
        }
        let page = fetch(options).await?;
        let next = if page.len() < page_size as usize { None } else { page.last().map(|t| Some(key(t))) };
        Ok(Some((page, (fetch, next))))
    });
    pages.map_ok(|page| futures::stream::iter(page.into_iter().map(Ok))).try_flatten().boxed()
}

impl FaceClient {
    pub(crate) async fn create_collection(
        &self,
        kind: Kind,
        id: &str,
        request: &CreateCollectionRequest,
    ) -> Result<(), FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        request.validate()?;
        let call = self.json_call(Method::PUT, self.url(&[kind.segment(), id]), request, Retry::Safe)?;
        self.send_unit(call).await
    }

    pub(crate) async fn get_collection<T: DeserializeOwned>(
        &self,
        kind: Kind,
        id: &str,
        return_recognition_model: bool,
    ) -> Result<T, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let query = if return_recognition_model { vec![("returnRecognitionModel", "true".to_owned())] } else { vec![] };
        self.send_json(self.call(Method::GET, self.url_with_query(&[kind.segment(), id], &query))).await
    }

    pub(crate) async fn list_collections<T: DeserializeOwned>(
        &self,
        kind: Kind,
        query: &[(&'static str, String)],
    ) -> Result<Vec<T>, FaceError> {
        self.send_json(self.call(Method::GET, self.url_with_query(&[kind.segment()], query))).await
    }

    pub(crate) async fn update_collection(
        &self,
        kind: Kind,
        id: &str,
        request: &UpdateRequest,
    ) -> Result<(), FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        request.validate()?;
        let call = self.json_call(Method::PATCH, self.url(&[kind.segment(), id]), request, Retry::Safe)?;
        self.send_unit(call).await
    }

    pub(crate) async fn delete_collection(&self, kind: Kind, id: &str) -> Result<(), FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        self.send_unit(self.call(Method::DELETE, self.url(&[kind.segment(), id]))).await
    }

    pub(crate) async fn training_status(&self, kind: Kind, id: &str) -> Result<TrainingResult, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        self.send_json(self.call(Method::GET, self.url(&[kind.segment(), id, "training"]))).await
    }

    pub(crate) async fn create_person(
        &self,
        kind: Kind,
        id: &str,
        request: &CreatePersonRequest,
    ) -> Result<CreatePersonResult, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        request.validate()?;
        let call = self.json_call(
            Method::POST,
            self.url(&[kind.segment(), id, "persons"]),
            request,
            Retry::OnlyIfNotProcessed,
        )?;
        self.send_json(call).await
    }

    pub(crate) async fn get_person(&self, kind: Kind, id: &str, person_id: Uuid) -> Result<Person, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let pid = person_id.to_string();
        self.send_json(self.call(Method::GET, self.url(&[kind.segment(), id, "persons", &pid]))).await
    }

    pub(crate) async fn list_persons(
        &self,
        kind: Kind,
        id: &str,
        options: &ListOptions,
    ) -> Result<Vec<Person>, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let url = self.url_with_query(&[kind.segment(), id, "persons"], &options.query()?);
        self.send_json(self.call(Method::GET, url)).await
    }

    pub(crate) async fn update_person(
        &self,
        kind: Kind,
        id: &str,
        person_id: Uuid,
        request: &UpdateRequest,
    ) -> Result<(), FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        request.validate()?;
        let pid = person_id.to_string();
        let call =
            self.json_call(Method::PATCH, self.url(&[kind.segment(), id, "persons", &pid]), request, Retry::Safe)?;
        self.send_unit(call).await
    }

    pub(crate) async fn delete_person(&self, kind: Kind, id: &str, person_id: Uuid) -> Result<(), FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let pid = person_id.to_string();
        self.send_unit(self.call(Method::DELETE, self.url(&[kind.segment(), id, "persons", &pid]))).await
    }

    /// Segments of the persisted-faces collection: `{kind}/{id}[/persons/{personId}]/persistedfaces`.
    fn faces_segments(kind: Kind, id: &str, person_id: Option<Uuid>) -> Result<Vec<String>, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let mut s = vec![kind.segment().to_owned(), id.to_owned()];
        if let Some(p) = person_id {
            s.push("persons".to_owned());
            s.push(p.to_string());
        }
        s.push("persistedfaces".to_owned());
        Ok(s)
    }

    pub(crate) async fn add_face(
        &self,
        kind: Kind,
        id: &str,
        person_id: Option<Uuid>,
        image: Bytes,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        if image.is_empty() {
            return Err(FaceError::invalid("imageContent", "the image is empty"));
        }
        let segs = Self::faces_segments(kind, id, person_id)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let url = self.url_with_query(&segs, &options.query()?);
        let call = Call {
            method: Method::POST,
            url,
            body: Body::Binary(image),
            retry: Retry::OnlyIfNotProcessed,
            accept: "application/json",
        };
        self.send_json(call).await
    }

    pub(crate) async fn add_face_from_url(
        &self,
        kind: Kind,
        id: &str,
        person_id: Option<Uuid>,
        image_url: &str,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        url::Url::parse(image_url)
            .map_err(|e| FaceError::invalid("url", format!("`{image_url}` is not an absolute URL: {e}")))?;
        let segs = Self::faces_segments(kind, id, person_id)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let url = self.url_with_query(&segs, &options.query()?);
        let call =
            self.json_call(Method::POST, url, &serde_json::json!({ "url": image_url }), Retry::OnlyIfNotProcessed)?;
        self.send_json(call).await
    }

    pub(crate) async fn get_face(
        &self,
        kind: Kind,
        id: &str,
        person_id: Option<Uuid>,
        persisted_face_id: Uuid,
    ) -> Result<PersistedFace, FaceError> {
        let mut segs = Self::faces_segments(kind, id, person_id)?;
        segs.push(persisted_face_id.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.send_json(self.call(Method::GET, self.url(&segs))).await
    }

    pub(crate) async fn list_faces(
        &self,
        kind: Kind,
        id: &str,
        options: &ListOptions,
    ) -> Result<Vec<PersistedFace>, FaceError> {
        let segs = Self::faces_segments(kind, id, None)?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let url = self.url_with_query(&segs, &options.query()?);
        self.send_json(self.call(Method::GET, url)).await
    }

    pub(crate) async fn update_face(
        &self,
        kind: Kind,
        id: &str,
        person_id: Option<Uuid>,
        persisted_face_id: Uuid,
        user_data: &str,
    ) -> Result<(), FaceError> {
        if user_data.chars().count() > 1024 {
            return Err(FaceError::invalid("userData", "must have at most 1024 characters"));
        }
        let mut segs = Self::faces_segments(kind, id, person_id)?;
        segs.push(persisted_face_id.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let call =
            self.json_call(Method::PATCH, self.url(&segs), &serde_json::json!({ "userData": user_data }), Retry::Safe)?;
        self.send_unit(call).await
    }

    pub(crate) async fn delete_face(
        &self,
        kind: Kind,
        id: &str,
        person_id: Option<Uuid>,
        persisted_face_id: Uuid,
    ) -> Result<(), FaceError> {
        let mut segs = Self::faces_segments(kind, id, person_id)?;
        segs.push(persisted_face_id.to_string());
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.send_unit(self.call(Method::DELETE, self.url(&segs))).await
    }
}

/// Operations shared by person groups and large person groups.
macro_rules! person_collection_ops {
    (
        kind: $kind:expr, noun: $noun:literal, path: $path:literal, group: $group:ty, group_key: $gkey:expr,
        create: $create:ident, get: $get:ident, list: $list:ident, list_all: $list_all:ident,
        update: $update:ident, delete: $delete:ident, begin_train: $train:ident, training_status: $status:ident,
        create_person: $cp:ident, get_person: $gp:ident, list_persons: $lp:ident, list_all_persons: $lap:ident,
        update_person: $up:ident, delete_person: $dp:ident,
        add_face: $af:ident, add_face_from_url: $afu:ident, get_face: $gf:ident, update_face: $uf:ident,
        delete_face: $df:ident $(,)?
    ) => {
        impl FaceClient {
            #[doc = concat!("Creates a ", $noun, " (`PUT /", $path, "/{id}`). The id is 1..=64 characters of `a-z`, `0-9`, `-`, `_`.")]
            pub async fn $create(&self, id: &str, request: &CreateCollectionRequest) -> Result<(), FaceError> {
                self.create_collection($kind, id, request).await
            }

            #[doc = concat!("Gets a ", $noun, " (`GET /", $path, "/{id}`); `return_recognition_model` adds its recognition model.")]
            pub async fn $get(&self, id: &str, return_recognition_model: bool) -> Result<$group, FaceError> {
                self.get_collection($kind, id, return_recognition_model).await
            }

            #[doc = concat!("Lists ", $noun, "s, one page (`GET /", $path, "?start&top&returnRecognitionModel`).")]
            pub async fn $list(&self, options: &ListCollectionsOptions) -> Result<Vec<$group>, FaceError> {
                self.list_collections($kind, &options.query()?).await
            }

            #[doc = concat!("Lists all ", $noun, "s, requesting pages of `page_size` (1..=1000) as the stream is read.")]
            pub fn $list_all(&self, page_size: u32, return_recognition_model: bool) -> BoxStream<'static, Result<$group, FaceError>> {
                let client = self.clone();
                paginate(
                    page_size,
                    move |page| {
                        let client = client.clone();
                        async move {
                            let options = ListCollectionsOptions { page, return_recognition_model: return_recognition_model.then_some(true) };
                            client.$list(&options).await
                        }
                    },
                    $gkey,
                )
            }

            #[doc = concat!("Updates a ", $noun, "'s name and/or user data (`PATCH /", $path, "/{id}`).")]
            pub async fn $update(&self, id: &str, request: &UpdateRequest) -> Result<(), FaceError> {
                self.update_collection($kind, id, request).await
            }

            #[doc = concat!("Deletes a ", $noun, " with its persons and faces (`DELETE /", $path, "/{id}`).")]
            pub async fn $delete(&self, id: &str) -> Result<(), FaceError> {
                self.delete_collection($kind, id).await
            }

            #[doc = concat!("Starts training a ", $noun, " (`POST /", $path, "/{id}/train`) and returns a poller; `.wait()` on it until training ends.")]
            pub async fn $train(&self, id: &str) -> Result<TrainingPoller, FaceError> {
                self.begin_train($kind, id).await
            }

            #[doc = concat!("Gets the training status of a ", $noun, " (`GET /", $path, "/{id}/training`). A never-trained group answers 404 `…NotTrained`.")]
            pub async fn $status(&self, id: &str) -> Result<TrainingResult, FaceError> {
                self.training_status($kind, id).await
            }

            #[doc = concat!("Creates a person in a ", $noun, " (`POST /", $path, "/{id}/persons`). Not retried except on 429, as a retry could create a duplicate.")]
            pub async fn $cp(&self, id: &str, request: &CreatePersonRequest) -> Result<CreatePersonResult, FaceError> {
                self.create_person($kind, id, request).await
            }

            #[doc = concat!("Gets a person of a ", $noun, " (`GET /", $path, "/{id}/persons/{personId}`).")]
            pub async fn $gp(&self, id: &str, person_id: Uuid) -> Result<Person, FaceError> {
                self.get_person($kind, id, person_id).await
            }

            #[doc = concat!("Lists persons of a ", $noun, ", one page (`GET /", $path, "/{id}/persons?start&top`).")]
            pub async fn $lp(&self, id: &str, options: &ListOptions) -> Result<Vec<Person>, FaceError> {
                self.list_persons($kind, id, options).await
            }

            #[doc = concat!("Lists all persons of a ", $noun, ", requesting pages of `page_size` (1..=1000) as the stream is read.")]
            pub fn $lap(&self, id: &str, page_size: u32) -> BoxStream<'static, Result<Person, FaceError>> {
                let client = self.clone();
                let id = id.to_owned();
                paginate(
                    page_size,
                    move |page| {
                        let client = client.clone();
                        let id = id.clone();
                        async move { client.list_persons($kind, &id, &page).await }
                    },
                    |p: &Person| p.person_id.to_string(),
                )
            }

            #[doc = concat!("Updates a person of a ", $noun, " (`PATCH /", $path, "/{id}/persons/{personId}`).")]
            pub async fn $up(&self, id: &str, person_id: Uuid, request: &UpdateRequest) -> Result<(), FaceError> {
                self.update_person($kind, id, person_id, request).await
            }

            #[doc = concat!("Deletes a person of a ", $noun, " with its faces (`DELETE /", $path, "/{id}/persons/{personId}`).")]
            pub async fn $dp(&self, id: &str, person_id: Uuid) -> Result<(), FaceError> {
                self.delete_person($kind, id, person_id).await
            }

            #[doc = concat!("Adds a face image to a person of a ", $noun, " (`POST /", $path, "/{id}/persons/{personId}/persistedfaces`, octet-stream). The image must hold exactly one face unless `target_face` is set; at most 248 faces per person. Not retried except on 429.")]
            pub async fn $af(&self, id: &str, person_id: Uuid, image: impl Into<Bytes>, options: &AddFaceOptions) -> Result<AddFaceResult, FaceError> {
                self.add_face($kind, id, Some(person_id), image.into(), options).await
            }

            #[doc = concat!("Adds a face from an image URL to a person of a ", $noun, " (`POST /", $path, "/{id}/persons/{personId}/persistedfaces`, JSON). Not retried except on 429.")]
            pub async fn $afu(&self, id: &str, person_id: Uuid, url: &str, options: &AddFaceOptions) -> Result<AddFaceResult, FaceError> {
                self.add_face_from_url($kind, id, Some(person_id), url, options).await
            }

            #[doc = concat!("Gets a face of a person of a ", $noun, " (`GET /", $path, "/{id}/persons/{personId}/persistedfaces/{persistedFaceId}`).")]
            pub async fn $gf(&self, id: &str, person_id: Uuid, persisted_face_id: Uuid) -> Result<PersistedFace, FaceError> {
                self.get_face($kind, id, Some(person_id), persisted_face_id).await
            }

            #[doc = concat!("Sets the user data (≤ 1 KB) of a face of a person of a ", $noun, " (`PATCH /", $path, "/{id}/persons/{personId}/persistedfaces/{persistedFaceId}`).")]
            pub async fn $uf(&self, id: &str, person_id: Uuid, persisted_face_id: Uuid, user_data: &str) -> Result<(), FaceError> {
                self.update_face($kind, id, Some(person_id), persisted_face_id, user_data).await
            }

            #[doc = concat!("Deletes a face of a person of a ", $noun, " (`DELETE /", $path, "/{id}/persons/{personId}/persistedfaces/{persistedFaceId}`).")]
            pub async fn $df(&self, id: &str, person_id: Uuid, persisted_face_id: Uuid) -> Result<(), FaceError> {
                self.delete_face($kind, id, Some(person_id), persisted_face_id).await
            }
        }
    };
}

person_collection_ops! {
    kind: Kind::PersonGroup, noun: "person group", path: "persongroups", group: PersonGroup,
    group_key: |g: &PersonGroup| g.person_group_id.clone(),
    create: create_person_group, get: get_person_group, list: list_person_groups, list_all: list_all_person_groups,
    update: update_person_group, delete: delete_person_group, begin_train: begin_train_person_group,
    training_status: get_person_group_training_status,
    create_person: create_person_group_person, get_person: get_person_group_person,
    list_persons: list_person_group_persons, list_all_persons: list_all_person_group_persons,
    update_person: update_person_group_person, delete_person: delete_person_group_person,
    add_face: add_person_group_person_face, add_face_from_url: add_person_group_person_face_from_url,
    get_face: get_person_group_person_face, update_face: update_person_group_person_face,
    delete_face: delete_person_group_person_face,
}

person_collection_ops! {
    kind: Kind::LargePersonGroup, noun: "large person group", path: "largepersongroups", group: LargePersonGroup,
    group_key: |g: &LargePersonGroup| g.large_person_group_id.clone(),
    create: create_large_person_group, get: get_large_person_group, list: list_large_person_groups,
    list_all: list_all_large_person_groups,
    update: update_large_person_group, delete: delete_large_person_group, begin_train: begin_train_large_person_group,
    training_status: get_large_person_group_training_status,
    create_person: create_large_person_group_person, get_person: get_large_person_group_person,
    list_persons: list_large_person_group_persons, list_all_persons: list_all_large_person_group_persons,
    update_person: update_large_person_group_person, delete_person: delete_large_person_group_person,
    add_face: add_large_person_group_person_face, add_face_from_url: add_large_person_group_person_face_from_url,
    get_face: get_large_person_group_person_face, update_face: update_large_person_group_person_face,
    delete_face: delete_large_person_group_person_face,
}

impl FaceClient {
    /// Creates a face list (`PUT /facelists/{id}`): up to 1,000 faces, no training needed.
    pub async fn create_face_list(&self, id: &str, request: &CreateCollectionRequest) -> Result<(), FaceError> {
        self.create_collection(Kind::FaceList, id, request).await
    }

    /// Gets a face list with its faces (`GET /facelists/{id}`).
    pub async fn get_face_list(&self, id: &str, return_recognition_model: bool) -> Result<FaceList, FaceError> {
        self.get_collection(Kind::FaceList, id, return_recognition_model).await
    }

    /// Lists all face lists (`GET /facelists`; this list is not paged).
    pub async fn list_face_lists(&self, return_recognition_model: bool) -> Result<Vec<FaceListItem>, FaceError> {
        let query = if return_recognition_model { vec![("returnRecognitionModel", "true".to_owned())] } else { vec![] };
        self.list_collections(Kind::FaceList, &query).await
    }

    /// Updates a face list's name and/or user data (`PATCH /facelists/{id}`).
    pub async fn update_face_list(&self, id: &str, request: &UpdateRequest) -> Result<(), FaceError> {
        self.update_collection(Kind::FaceList, id, request).await
    }

    /// Deletes a face list with its faces (`DELETE /facelists/{id}`).
    pub async fn delete_face_list(&self, id: &str) -> Result<(), FaceError> {
        self.delete_collection(Kind::FaceList, id).await
    }

    /// Adds a face image to a face list (`POST /facelists/{id}/persistedfaces`, octet-stream). Not retried except
    /// on 429.
    pub async fn add_face_list_face(
        &self,
        id: &str,
        image: impl Into<Bytes>,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        self.add_face(Kind::FaceList, id, None, image.into(), options).await
    }

    /// Adds a face from an image URL to a face list (`POST /facelists/{id}/persistedfaces`, JSON). Not retried
    /// except on 429.
    pub async fn add_face_list_face_from_url(
        &self,
        id: &str,
        url: &str,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        self.add_face_from_url(Kind::FaceList, id, None, url, options).await
    }

    /// Deletes a face of a face list (`DELETE /facelists/{id}/persistedfaces/{persistedFaceId}`).
    pub async fn delete_face_list_face(&self, id: &str, persisted_face_id: Uuid) -> Result<(), FaceError> {
        self.delete_face(Kind::FaceList, id, None, persisted_face_id).await
    }

    /// Creates a large face list (`PUT /largefacelists/{id}`): up to 1,000,000 faces; train it before find
    /// similar.
    pub async fn create_large_face_list(&self, id: &str, request: &CreateCollectionRequest) -> Result<(), FaceError> {
        self.create_collection(Kind::LargeFaceList, id, request).await
    }

    /// Gets a large face list (`GET /largefacelists/{id}`).
    pub async fn get_large_face_list(
        &self,
        id: &str,
        return_recognition_model: bool,
    ) -> Result<LargeFaceList, FaceError> {
        self.get_collection(Kind::LargeFaceList, id, return_recognition_model).await
    }

    /// Lists large face lists, one page (`GET /largefacelists?start&top&returnRecognitionModel`).
    pub async fn list_large_face_lists(
        &self,
        options: &ListCollectionsOptions,
    ) -> Result<Vec<LargeFaceList>, FaceError> {
        self.list_collections(Kind::LargeFaceList, &options.query()?).await
    }

    /// Lists all large face lists, requesting pages of `page_size` (1..=1000) as the stream is read.
    pub fn list_all_large_face_lists(
        &self,
        page_size: u32,
        return_recognition_model: bool,
    ) -> BoxStream<'static, Result<LargeFaceList, FaceError>> {
        let client = self.clone();
        paginate(
            page_size,
            move |page| {
                let client = client.clone();
                async move {
                    let options = ListCollectionsOptions {
                        page,
                        return_recognition_model: return_recognition_model.then_some(true),
                    };
                    client.list_large_face_lists(&options).await
                }
            },
            |l: &LargeFaceList| l.large_face_list_id.clone(),
        )
    }

    /// Updates a large face list's name and/or user data (`PATCH /largefacelists/{id}`).
    pub async fn update_large_face_list(&self, id: &str, request: &UpdateRequest) -> Result<(), FaceError> {
        self.update_collection(Kind::LargeFaceList, id, request).await
    }

    /// Deletes a large face list with its faces (`DELETE /largefacelists/{id}`).
    pub async fn delete_large_face_list(&self, id: &str) -> Result<(), FaceError> {
        self.delete_collection(Kind::LargeFaceList, id).await
    }

    /// Starts training a large face list (`POST /largefacelists/{id}/train`) and returns a poller.
    pub async fn begin_train_large_face_list(&self, id: &str) -> Result<TrainingPoller, FaceError> {
        self.begin_train(Kind::LargeFaceList, id).await
    }

    /// Gets the training status of a large face list (`GET /largefacelists/{id}/training`).
    pub async fn get_large_face_list_training_status(&self, id: &str) -> Result<TrainingResult, FaceError> {
        self.training_status(Kind::LargeFaceList, id).await
    }

    /// Adds a face image to a large face list (`POST /largefacelists/{id}/persistedfaces`, octet-stream). Not
    /// retried except on 429.
    pub async fn add_large_face_list_face(
        &self,
        id: &str,
        image: impl Into<Bytes>,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        self.add_face(Kind::LargeFaceList, id, None, image.into(), options).await
    }

    /// Adds a face from an image URL to a large face list (`POST /largefacelists/{id}/persistedfaces`, JSON).
    /// Not retried except on 429.
    pub async fn add_large_face_list_face_from_url(
        &self,
        id: &str,
        url: &str,
        options: &AddFaceOptions,
    ) -> Result<AddFaceResult, FaceError> {
        self.add_face_from_url(Kind::LargeFaceList, id, None, url, options).await
    }

    /// Gets a face of a large face list (`GET /largefacelists/{id}/persistedfaces/{persistedFaceId}`).
    pub async fn get_large_face_list_face(
        &self,
        id: &str,
        persisted_face_id: Uuid,
    ) -> Result<PersistedFace, FaceError> {
        self.get_face(Kind::LargeFaceList, id, None, persisted_face_id).await
    }

    /// Lists faces of a large face list, one page (`GET /largefacelists/{id}/persistedfaces?start&top`).
    pub async fn list_large_face_list_faces(
        &self,
        id: &str,
        options: &ListOptions,
    ) -> Result<Vec<PersistedFace>, FaceError> {
        self.list_faces(Kind::LargeFaceList, id, options).await
    }

    /// Lists all faces of a large face list, requesting pages of `page_size` (1..=1000) as the stream is read.
    pub fn list_all_large_face_list_faces(
        &self,
        id: &str,
        page_size: u32,
    ) -> BoxStream<'static, Result<PersistedFace, FaceError>> {
        let client = self.clone();
        let id = id.to_owned();
        paginate(
            page_size,
            move |page| {
                let client = client.clone();
                let id = id.clone();
                async move { client.list_large_face_list_faces(&id, &page).await }
            },
            |f: &PersistedFace| f.persisted_face_id.to_string(),
        )
    }

    /// Sets the user data (≤ 1 KB) of a face of a large face list
    /// (`PATCH /largefacelists/{id}/persistedfaces/{persistedFaceId}`).
    pub async fn update_large_face_list_face(
        &self,
        id: &str,
        persisted_face_id: Uuid,
        user_data: &str,
    ) -> Result<(), FaceError> {
        self.update_face(Kind::LargeFaceList, id, None, persisted_face_id, user_data).await
    }

    /// Deletes a face of a large face list (`DELETE /largefacelists/{id}/persistedfaces/{persistedFaceId}`).
    pub async fn delete_large_face_list_face(&self, id: &str, persisted_face_id: Uuid) -> Result<(), FaceError> {
        self.delete_face(Kind::LargeFaceList, id, None, persisted_face_id).await
    }
}

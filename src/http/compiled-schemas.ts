import fastJson from 'fast-json-stringify';

/**
 * Routes share most of their schemas (the error envelope of every status, ids, pages) as equal
 * objects, not one object, and Ajv and fast-json-stringify cache by identity: 357 response
 * serializers and 90 validators held 41 and 33 distinct schemas. Compiling each distinct schema
 * once cut building the routes from about 750 ms to 310 ms. Symbol keys (TypeBox's) are not
 * part of the key; neither compiler reads them.
 */
export function compiledOnce<F>(compile: (schema: object) => F): (schema: object) => F {
  const compiled = new Map<string, F>();
  return (schema) => {
    const key = JSON.stringify(schema);
    let fn = compiled.get(key);
    if (fn === undefined) {
      fn = compile(schema);
      compiled.set(key, fn);
    }
    return fn;
  };
}

/** The response serializer of every route, and of the views serialized ahead (credential-json.ts). */
export const serializerFor = compiledOnce((schema) => fastJson(schema));

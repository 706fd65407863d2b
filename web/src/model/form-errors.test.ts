import { errorsByInput } from './form-errors.js';
import { imageInputForField } from './image-form.js';

describe('errorsByInput', () => {
  it('gathers causes by input, joining several on one and sending the rest to the form', () => {
    expect(
      errorsByInput(
        [
          { field: 'spec.source.url', message: 'Invalid value: "ftp://x": must be an http or https URL' },
          { field: 'spec.source.url', message: 'second' },
          { field: 'spec.unknown', message: 'odd' },
          { reason: 'FieldValueRequired' },
        ],
        imageInputForField,
      ),
    ).toEqual({ url: 'Invalid value: "ftp://x": must be an http or https URL; second', form: 'odd; FieldValueRequired' });
  });
});

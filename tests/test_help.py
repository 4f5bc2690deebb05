"""Help where a user looks: every attack class's `__call__` shows its functional twin's per-call signature and documents
each argument (`help(PGD)`, `PGD.__call__.__doc__`), read once in `Attack` from the twin's signature and comments."""
import inspect, pydoc
import pytest
from fastcore.docments import docments
import advstudy.attacks as A


def attack_classes(cls=A.Attack) -> list:
    "Every subclass of `cls` in the package, at any depth (not a test's own subclasses)."
    found = [c for s in cls.__subclasses__() for c in (s, *attack_classes(s))]
    return [c for c in found if c.__module__.startswith('advstudy.')]


CLASSES = attack_classes()


def test_every_attack_class_is_checked():
    assert {'FGSM', 'BIM', 'PGD', 'DeepFool', 'CW'} <= {c.__name__ for c in CLASSES}


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
def test_call_signature_names_the_per_call_arguments(cls):
    fn = inspect.signature(cls.fn)
    per_call = [n for n in fn.parameters if n in A.CALL_ARGUMENTS]
    call = inspect.signature(cls.__call__)
    assert list(call.parameters) == ['self', 'images', 'labels', *per_call]
    for n in per_call:
        p = call.parameters[n]
        assert (p.kind, p.default, p.annotation) == (p.KEYWORD_ONLY, fn.parameters[n].default,
                                                      fn.parameters[n].annotation), n
    assert call.return_annotation == fn.return_annotation


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
def test_call_doc_mentions_each_argument(cls):
    docs, doc = docments(cls.fn), cls.__call__.__doc__
    names = list(inspect.signature(cls.__call__).parameters)[1:]
    assert doc and doc.startswith(inspect.getdoc(cls.fn).split('\n')[0])
    for n in names:
        assert docs[n], f'{cls.fn.__name__} leaves {n} undocumented'
        assert f'    {n} ' in doc and docs[n] in doc, f'{cls.__name__}.__call__ does not document {n}:\n{doc}'
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)   # what help(cls) prints
    assert all(n in text and docs[n] in text for n in names)


def test_pgd_call():
    assert str(inspect.signature(A.PGD.__call__)).startswith('(self, images: ')
    assert list(inspect.signature(A.PGD.__call__).parameters) == [
        'self', 'images', 'labels', 'target', 'seed', 'callback', 'return_info']
